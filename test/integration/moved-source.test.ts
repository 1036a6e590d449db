// A backup's source account moved to another server (the provider migrated it), through the real
// CLI against the harness's Dovecot: the job's URL is edited, and the next run into the same
// Maildir copies only what is new — also when the new server names a role folder otherwise
// ("Sent" there, "Sent Items" here).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { seedCorpus } from '../harness/corpus.js';
import { harness } from '../harness/env.js';
import { seedFixtures } from '../harness/fixtures.js';
import { readMaildirTree } from '../harness/maildir-read.js';

const h = harness();
const tls = ['--tls-ca', h.certPem];
const work = mkdtempSync(join(tmpdir(), 'mf-moved-'));
// The jobs keep their default checkpoints (a moved source is a new job): in the test's own state directory.
const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', XDG_STATE_HOME: join(work, 'state') };
afterAll(() => rmSync(work, { recursive: true, force: true }));
const imap = (user: string) => `imap://${user}@${h.host}:${h.ports.imap}`;
const sent2020 = { 'easy-ham-1': 'Sent/2020', 'easy-ham-2': 'Sent/2020', 'hard-ham-1': 'Sent/2020', 'spam-1': 'Sent/2020', 'spam-2': 'Sent/2020' };
const named = (res: { folders: Array<{ folder: string; dest: string }> }) => Object.fromEntries(res.folders.map((f) => [f.folder, f.dest]));
const subject = (b: Buffer) => /^Subject: (.*)$/m.exec(b.toString('latin1'))?.[1];

describe('a backup whose source account moved to a server that names Sent otherwise', () => {
  it('the new "Sent Items" (and its subfolder) go into the backup\'s Sent: nothing copied twice, only what is new', async () => {
    const old = (await h.freshUser('movold')).name;
    const moved = (await h.freshUser('movnew')).name;
    const sent = await seedFixtures(h, old, 'Sent');
    const older = await seedCorpus(h, old, { limitPerGroup: 2, layout: sent2020 });
    // The same mail at the new provider, under its names, and one message sent since the move.
    await seedFixtures(h, moved, 'Sent Items');
    await seedCorpus(h, moved, { limitPerGroup: 2, layout: Object.fromEntries(Object.keys(sent2020).map((g) => [g, 'Sent Items/2020'])) });
    await h.doveadm(['save', '-u', moved, '-m', 'Sent Items'], Buffer.from('Message-ID: <after-the-move@test>\nSubject: after the move\n\nhello\n'));

    const dest = `maildir:${join(work, 'M')}`;
    const first = envelope(await runCli(['copy', imap(old), dest, ...tls, '--json'], { env }));
    expect(first.status, JSON.stringify(first.error)).toBe(0);
    expect(first.result.copied + first.result.skipped).toBe(sent.length + older.length);

    const sentBefore = readMaildirTree(join(work, 'M')).get('Sent')!.length;
    const args = ['copy', imap(moved), dest, ...tls, '--json'];
    const plan = envelope(await runCli([...args, '--dry-run'], { env }));
    expect(named(plan.result)).toEqual({ INBOX: 'INBOX', 'Sent Items': 'Sent', 'Sent Items/2020': 'Sent/2020' });
    expect(plan.result.copy).toBe(1);
    const next = envelope(await runCli(args, { env }));
    expect(next.status, JSON.stringify(next.error)).toBe(0);
    expect(named(next.result)).toEqual(named(plan.result));
    expect(next.result.copied).toBe(1);
    const tree = readMaildirTree(join(work, 'M'));
    expect([...tree.keys()].sort()).toEqual(['INBOX', 'Sent', 'Sent/2020']);
    expect(tree.get('Sent')!.length).toBe(sentBefore + 1);
    expect(tree.get('Sent')!.map((f) => subject(f.bytes))).toContain('after the move');
    const v = envelope(await runCli(['verify', imap(moved), dest, ...tls, '--json'], { env }));
    expect(v.status, JSON.stringify(v.result?.folders)).toBe(0);
    expect(named(v.result)).toEqual(named(plan.result));
    expect(v.result.duplicates).toBe(0);
    expect(envelope(await runCli(args, { env })).result.copied).toBe(0);
  });

  it('a source with two folders of one role keeps both apart in a Maildir, run after run', async () => {
    const user = (await h.freshUser('movtwo')).name;
    await seedFixtures(h, user, 'Sent');
    await h.doveadm(['mailbox', 'create', '-u', user, 'Sent Items']);
    await h.doveadm(['save', '-u', user, '-m', 'Sent Items'], Buffer.from('Message-ID: <only-in-sent-items@test>\nSubject: only in Sent Items\n\nhello\n'));
    const dest = join(work, 'two');
    const args = ['copy', imap(user), `maildir:${dest}`, ...tls, '--json'];
    for (let run = 0; run < 2; run++) {
      const out = envelope(await runCli(args, { env }));
      expect(out.status, JSON.stringify(out.error)).toBe(0);
      expect(named(out.result)).toEqual({ INBOX: 'INBOX', Sent: 'Sent', 'Sent Items': 'Sent Items' });
    }
    expect(readMaildirTree(dest).get('Sent Items')!.map((f) => subject(f.bytes))).toEqual(['only in Sent Items']);
  });
});
