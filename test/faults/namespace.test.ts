// A server whose personal namespace has a prefix ("INBOX." with "." between levels: Courier, cPanel)
// lists INBOX.Sent and INBOX.Work for what a user sees as Sent and Work. Its folders are named
// without the prefix, as a destination's prefix is put in: a Maildir backup holds .Work, not
// .INBOX.Work, and an account copied into a folder of itself leaves that folder (INBOX.Backup) out
// of the next run. Real CLI against the scriptable fake IMAP server.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { FakeImapServer, type FakeImapMailbox } from '../harness/fake-imap.js';
import { fakeMessage, sandbox } from './helpers.js';

let srv: FakeImapServer | undefined;
afterEach(async () => {
  await srv?.stop();
  srv = undefined;
});

const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };
const courier = (): FakeImapMailbox[] => [
  { name: 'INBOX', delimiter: '.', messages: [{ uid: 1, body: fakeMessage(1) }] },
  { name: 'INBOX.Sent', delimiter: '.', messages: [{ uid: 1, body: fakeMessage(2) }] },
  { name: 'INBOX.Work', delimiter: '.', messages: [{ uid: 1, body: fakeMessage(3) }] },
  { name: 'INBOX.Work.Deep', delimiter: '.', messages: [{ uid: 1, body: fakeMessage(4) }] },
];

describe('a source with the namespace prefix "INBOX."', () => {
  it('its folders are named without the prefix (a Maildir backup holds .Work, not .INBOX.Work); --folder takes either name', async () => {
    srv = await FakeImapServer.start({ mailboxes: courier(), namespace: { prefix: 'INBOX.', delimiter: '.' } });
    const box = sandbox('mf-ns-');
    const r = await runCli(['copy', `imap://u@127.0.0.1:${srv.port}`, `maildir:${join(box, 'md')}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(4);
    expect(out.result.folders.map((f: { folder: string }) => f.folder).sort()).toEqual(['INBOX', 'Sent', 'Work', 'Work/Deep']);
    expect(readdirSync(join(box, 'md')).filter((d) => d.startsWith('.')).sort()).toEqual(['.Sent', '.Work', '.Work.Deep']);
    for (const name of ['Work', 'INBOX/Work']) {
      const one = envelope(await runCli(['copy', `imap://u@127.0.0.1:${srv.port}`, `maildir:${join(box, `one-${name.length}`)}`, '--source-tls', 'none', '--checkpoint', join(box, `cp-${name.length}`), '--folder', name, '--json'], { env }));
      expect(one.status, JSON.stringify(one)).toBe(0);
      expect(one.result.folders.map((f: { folder: string }) => f.folder)).toEqual(['Work']);
    }
  });

  it('copied into a folder of itself (spelled Backup or INBOX/Backup), three times: the backup (INBOX.Backup) is never copied again', async () => {
    for (const into of ['Backup', 'INBOX/Backup']) {
      srv = await FakeImapServer.start({ mailboxes: courier(), namespace: { prefix: 'INBOX.', delimiter: '.' }, store: true });
      const box = sandbox('mf-ns-');
      const args = ['copy', `imap://u@127.0.0.1:${srv.port}`, `imap://u@localhost:${srv.port}/${into}`, '--source-tls', 'none', '--dest-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'];
      for (let run = 0; run < 3; run++) {
        const out = envelope(await runCli(args, { env }));
        expect(out.status, JSON.stringify(out)).toBe(0);
        expect(out.result.copied, `${into}, run ${run}`).toBe(run === 0 ? 4 : 0);
      }
      expect(srv.opts.mailboxes.map((m) => m.name).sort()).toEqual(['INBOX', 'INBOX.Backup', 'INBOX.Backup.Sent', 'INBOX.Backup.Work', 'INBOX.Backup.Work.Deep', 'INBOX.Sent', 'INBOX.Work', 'INBOX.Work.Deep']);
      expect(srv.appended).toHaveLength(4);
      await srv.stop();
      srv = undefined;
    }
  });
});

describe('the destination folder a source folder went to', () => {
  it('is kept while it exists, in a Maildir too (a change in how names are made, or in --map, starts no second copy); --restart forgets it', async () => {
    const mailboxes = courier();
    srv = await FakeImapServer.start({ mailboxes, namespace: { prefix: 'INBOX.', delimiter: '.' } });
    const box = sandbox('mf-ns-');
    const md = join(box, 'md');
    // The default checkpoint (under XDG_STATE_HOME), which verify reads too.
    const env2 = { ...env, XDG_STATE_HOME: join(box, 'state') };
    const args = ['copy', `imap://u@127.0.0.1:${srv.port}`, `maildir:${md}`, '--source-tls', 'none', '--json', '--folder', 'Work'];
    expect(envelope(await runCli([...args, '--map', 'Work=Old'], { env: env2 })).status).toBe(0);
    mailboxes[2]!.messages.push({ uid: 2, body: fakeMessage(5) });
    const again = envelope(await runCli(args, { env: env2 }));
    expect(again.status, JSON.stringify(again)).toBe(0);
    expect(again.result.folders[0]).toMatchObject({ folder: 'Work', dest: 'Old', copied: 1 });
    expect(readdirSync(join(md, '.Old', 'cur'))).toHaveLength(2);
    // A --map that now names another place is not followed either, and that is said (it was silent).
    const remapped = envelope(await runCli([...args, '--map', 'Work=New'], { env: env2 }));
    expect(remapped.status, JSON.stringify(remapped)).toBe(0);
    expect(remapped.result.folders[0]).toMatchObject({ folder: 'Work', dest: 'Old' });
    expect(remapped.warnings.join('\n')).toMatch(/Work: stays in Old, where earlier runs copied it, not in New as --map says \(--restart/);
    expect(envelope(await runCli([...args, '--map', 'Work=Old'], { env: env2 })).warnings).toEqual([]);
    // verify looks where the copy put it.
    const v = envelope(await runCli(['verify', ...args.slice(1)], { env: env2 }));
    expect(v.status, JSON.stringify(v)).toBe(0);
    expect(v.result.folders[0]).toMatchObject({ dest: 'Old', missing: 0 });
    const fresh = envelope(await runCli([...args, '--restart'], { env: env2 }));
    expect(fresh.result.folders[0]).toMatchObject({ folder: 'Work', dest: 'Work', copied: 2 });
  });
});
