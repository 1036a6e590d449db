// A POP3 server whose index was rebuilt gives its UIDLs out again from 1 (Dovecot with
// pop3_uidl_format = %u): a message deleted earlier leaves a gap, the messages after it move
// down, and a message that arrived since gets a UIDL an earlier run copied another message
// under. Through the real CLI against a scriptable POP3 server.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { FakePop3Server, type FakeMessage } from '../harness/fake-pop3.js';
import { readMaildirTree } from '../harness/maildir-read.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const mail = (name: string, body: string, mid = true) => b(`${mid ? `Message-ID: <${name}@x>\r\n` : ''}Subject: ${name}\r\n\r\n${body}\r\n`);
let server: FakePop3Server | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('POP3 UIDLs given out again after the server rebuilt its index', () => {
  for (const mid of [true, false]) {
    it(`a new message under a UIDL copied before is copied, not passed over as done (${mid ? 'with' : 'without'} a Message-ID)`, async () => {
      const m1 = mail('m1', 'one');
      const m3 = mail('m3', 'three, a little longer');
      const m4 = mail('m4', 'four, longer again than three');
      const m5 = mail('m5', 'five, which arrived after the last run', mid);
      server = await FakePop3Server.start({ user: 'u', pass: 'pw', pipelining: true, messages: [{ uid: '1', body: m1 }, { uid: '3', body: m3 }, { uid: '4', body: m4 }] });
      const work = mkdtempSync(join(tmpdir(), 'mf-reissued-'));
      const args = ['copy', `pop3://u@127.0.0.1:${server.port}`, `maildir:${join(work, 'md')}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp'), '--json'];
      const opts = { env: { MAILFERRY_SOURCE_PASSWORD: 'pw', XDG_STATE_HOME: join(work, 'state') } };
      expect(envelope(await runCli(args, opts)).result.copied).toBe(3);
      // The index rebuilt: numbered from 1 again, in order, and m5 delivered since.
      const now: FakeMessage[] = [{ uid: '1', body: m1 }, { uid: '2', body: m3 }, { uid: '3', body: m4 }, { uid: '4', body: m5 }];
      server.messages.splice(0, server.messages.length, ...now);
      const out = envelope(await runCli(args, opts));
      expect(out.status).toBe(0);
      expect(out.result.copied).toBe(1);
      expect(out.warnings.join('\n')).toMatch(/UIDL/);
      const subjects = readMaildirTree(join(work, 'md')).get('INBOX')!.map((f) => /Subject: (\w+)/.exec(f.bytes.toString('latin1'))![1]).sort();
      expect(subjects).toEqual(['m1', 'm3', 'm4', 'm5']);
      // And from there on, a rerun is a no-op.
      const again = envelope(await runCli(args, opts));
      expect(again.result.copied).toBe(0);
      expect(again.warnings).toEqual([]);
    });
  }
});
