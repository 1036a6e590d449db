// A source's listing lets go of each message's ref once it has yielded it. POP3 and Maildir list a
// whole folder before the first ref comes; the engine then takes what it learns of a message from
// its body (Message-ID, date) onto its ref. Refs held until the listing ended held all of that for
// the whole run: a POP3 box of 60,000 messages grew the heap by ~350 bytes a message copied.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageRef, Source } from '../../src/drivers/types.js';
import { MaildirSource } from '../../src/drivers/maildir/source.js';
import { Pop3Source } from '../../src/drivers/pop3/source.js';
import type { NetOptions } from '../../src/drivers/net-options.js';
import { silentLogger } from '../../src/log.js';
import { harness } from '../harness/env.js';
import { importMessages } from '../harness/stage.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const N = 40;
const h = harness();
const work = mkdtempSync(join(tmpdir(), 'mf-letgo-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const msg = (i: number) => Buffer.from(`Message-ID: <${i}@let-go.test>\r\nSubject: ${i}\r\n\r\nbody ${i}\r\n`);

/**
 * Lists `source`'s INBOX: of the refs yielded before the last one, how many are still alive once
 * the consumer has let go of them (a full collection before the listing ends). Each ref is given
 * what the engine gives one whose header it reads from the body.
 */
async function aliveBeforeTheEnd(source: Source): Promise<{ listed: number; alive: number }> {
  const seen: WeakRef<MessageRef>[] = [];
  let listed = 0;
  let alive = -1;
  for await (const ref of source.list('INBOX', { unreadable: true })) {
    listed++;
    ref.messageId = `<learned-${listed}@let-go.test>`;
    ref.internalDate = new Date();
    if (listed === N) {
      // A WeakRef's target is kept until the task that made it ends.
      await new Promise<void>((r) => setImmediate(r));
      gc();
      alive = seen.filter((w) => w.deref() !== undefined).length;
    } else seen.push(new WeakRef(ref));
  }
  return { listed, alive };
}

describe('a listing lets go of the refs it has yielded', () => {
  let pop3: Pop3Source;
  beforeAll(async () => {
    const user = (await h.freshUser('letgo')).name;
    await importMessages(h, user, Array.from({ length: N }, (_, i) => ({ folder: 'INBOX', bytes: msg(i + 1), letters: '', internalDate: new Date('2024-01-01T00:00:00Z') })));
    const o = {
      endpoint: { kind: 'pop3', scheme: 'pop3', host: h.host, port: h.ports.pop3, user, tls: 'none' },
      secret: async () => 'pass',
      auth: 'password',
      insecure: false,
      compress: false,
      timeoutMs: 10_000,
      log: silentLogger,
    } as NetOptions;
    pop3 = await Pop3Source.open(o);
  });
  afterAll(async () => {
    await pop3?.close();
  });

  it('POP3: none of the first refs is alive when the last one comes', async () => {
    expect(await aliveBeforeTheEnd(pop3)).toEqual({ listed: N, alive: 0 });
  });

  it('Maildir: none of the first refs is alive when the last one comes', async () => {
    const root = join(work, 'Maildir');
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(root, sub), { recursive: true });
    for (let i = 1; i <= N; i++) writeFileSync(join(root, 'cur', `1700000000.M${i}P1.letgo,S=${msg(i).length}:2,S`), msg(i));
    const source = await MaildirSource.open(root);
    await source.listMailboxes();
    try {
      expect(await aliveBeforeTheEnd(source)).toEqual({ listed: N, alive: 0 });
    } finally {
      await source.close();
    }
  });
});
