// --delete-source through the real CLI against a scriptable POP3 server, for what Dovecot will not
// do on demand: refuse one RETR, or a DELE, lose the QUIT answer, be stopped while it deletes. A
// second message with the same Message-ID waits for the first: when the first fails, the second
// is stored instead (and then deleted); the first stays on the server.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { DEFAULT_HANDLERS, FakePop3Server } from '../harness/fake-pop3.js';
import { readMaildirTree } from '../harness/maildir-read.js';

const b = (s: string) => Buffer.from(s, 'latin1');
let server: FakePop3Server | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('--delete-source and a message that fails', () => {
  it('a second message with its Message-ID is copied in its place (never recorded as its duplicate); the failed one stays on the server', async () => {
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      pipelining: true,
      messages: [
        { uid: 'a', body: b('Message-ID: <shared@x>\r\nSubject: A\r\n\r\nA, refused by the server\r\n') },
        { uid: 'b', body: b('Message-ID: <shared@x>\r\nSubject: B\r\n\r\nB, another message with the same id\r\n') },
        { uid: 'c', body: b('Message-ID: <c@x>\r\nSubject: C\r\n\r\nC\r\n') },
      ],
      handlers: {
        RETR: async (s, arg, line) => (arg === '1' ? s.err('[SYS/PERM] cannot read message') : s.multiline(line, 'ok', s.message(Number(arg))!.body)),
      },
    });
    const work = mkdtempSync(join(tmpdir(), 'mf-fakedel-'));
    const r = await runCli(['copy', `pop3://u@127.0.0.1:${server.port}`, `maildir:${join(work, 'md')}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp'), '--delete-source', '--json'], {
      env: { MAILFERRY_SOURCE_PASSWORD: 'pw', XDG_STATE_HOME: join(work, 'state') },
    });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result).toMatchObject({ copied: 2, skipped: 0, failed: 1 });
    expect(readMaildirTree(join(work, 'md')).get('INBOX')!.map((f) => f.bytes.toString()).sort()).toEqual([
      'Message-ID: <c@x>\nSubject: C\n\nC\n',
      'Message-ID: <shared@x>\nSubject: B\n\nB, another message with the same id\n',
    ]);
    // B and C: A failed (not done), B is in the destination in its own right.
    expect(server.seen('DELE').sort()).toEqual(['DELE 2', 'DELE 3']);
    expect(out.result.deleted).toBe(2);
    expect(out.result.keptOnSource).toBe(0);
    // The rerun takes A for there: B, with its Message-ID, stands for it (README: a second message
    // whose Message-ID is in the destination counts as there). Nothing is copied twice.
    const again = envelope(await runCli(['copy', `pop3://u@127.0.0.1:${server.port}`, `maildir:${join(work, 'md')}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp'), '--json'], { env: { MAILFERRY_SOURCE_PASSWORD: 'pw', XDG_STATE_HOME: join(work, 'state') } }));
    expect(again.result).toMatchObject({ copied: 0, failed: 0 });
    expect(readMaildirTree(join(work, 'md')).get('INBOX')).toHaveLength(2);
  });
});

describe('--delete-source whose QUIT answer is lost', () => {
  it("the copy's counts stand in the JSON, with deleteError; exit 5; the rerun deletes what is still there, copying nothing twice", async () => {
    let dropQuit = true;
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      pipelining: true,
      messages: [
        { uid: 'a', body: b('Message-ID: <a@x>\r\n\r\nA\r\n') },
        { uid: 'b', body: b('Message-ID: <b@x>\r\n\r\nB\r\n') },
      ],
      handlers: {
        // After the DELEs: the connection drops instead of the +OK (did the server delete? not known).
        QUIT: async (s) => {
          if (dropQuit && server!.seen('DELE').length > 0) return void s.socket.destroy();
          s.write('+OK bye\r\n');
          s.socket.end();
        },
      },
    });
    const work = mkdtempSync(join(tmpdir(), 'mf-fakedel-'));
    const args = ['copy', `pop3://u@127.0.0.1:${server.port}`, `maildir:${join(work, 'md')}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp'), '--delete-source', '--json', '--retries', '0'];
    const env = { MAILFERRY_SOURCE_PASSWORD: 'pw', XDG_STATE_HOME: join(work, 'state') };
    const r = await runCli(args, { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(5);
    expect(out.result).toMatchObject({ copied: 2, failed: 0, deleted: 0, deleteError: { code: expect.stringMatching(/NETWORK|PROTOCOL/), uncertain: true } });
    dropQuit = false;
    const again = envelope(await runCli(args, { env }));
    expect(again.status, JSON.stringify(again)).toBe(0);
    expect(again.result).toMatchObject({ copied: 0, deleted: 2 });
    expect(readMaildirTree(join(work, 'md')).get('INBOX')).toHaveLength(2);
  });
});

describe('--delete-source whose deletions are done but cannot be recorded (the checkpoint fails after QUIT)', () => {
  it('says what the server deleted (exit 3, deleted: 2, not "not known"); the rerun copies nothing twice', async () => {
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      pipelining: true,
      messages: [
        { uid: 'a', body: b('Message-ID: <a@x>\r\n\r\nA\r\n') },
        { uid: 'b', body: b('Message-ID: <b@x>\r\n\r\nB\r\n') },
      ],
    });
    const work = mkdtempSync(join(tmpdir(), 'mf-fakedel-'));
    const cp = join(work, 'cp');
    const args = ['copy', `pop3://u@127.0.0.1:${server.port}`, `maildir:${join(work, 'md')}`, '--source-tls', 'none', '--checkpoint', cp, '--json'];
    const env = { MAILFERRY_SOURCE_PASSWORD: 'pw', XDG_STATE_HOME: join(work, 'state') };
    expect(envelope(await runCli(args, { env })).result.copied).toBe(2);
    // The rerun copies nothing: the checkpoint's one write and sync are those of the deletions (the forgotten UIDLs).
    const r = await runCli([...args, '--delete-source'], { env, wrap: ['strace', '-f', '-qq', '-o', '/dev/null', '-P', cp, '-e', 'trace=fdatasync', '-e', 'inject=fdatasync:error=EIO:when=1'] });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(3);
    expect(out.result).toMatchObject({ copied: 0, deleted: 2, deleteError: { code: 'CHECKPOINT_IO' } });
    expect(out.result.deleteError.uncertain).toBeUndefined();
    const human = await runCli([...args.filter((a) => a !== '--json'), '--delete-source'], { env });
    expect(human.code, human.stderr).toBe(0);
    expect(readMaildirTree(join(work, 'md')).get('INBOX')).toHaveLength(2);
  });

  it('a destination that cannot be read before any deletion: "nothing was deleted" (exit 3), not "not known"', async () => {
    server = await FakePop3Server.start({ user: 'u', pass: 'pw', pipelining: true, messages: [{ uid: 'a', body: b('Message-ID: <a@x>\r\n\r\nA\r\n') }] });
    const work = mkdtempSync(join(tmpdir(), 'mf-fakedel-'));
    const md = join(work, 'md');
    const args = ['copy', `pop3://u@127.0.0.1:${server.port}`, `maildir:${md}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp')];
    const env = { MAILFERRY_SOURCE_PASSWORD: 'pw', XDG_STATE_HOME: join(work, 'state') };
    expect((await runCli(args, { env })).code).toBe(0);
    const r = await runCli([...args, '--delete-source'], { env, wrap: ['strace', '-f', '-qq', '-o', '/dev/null', '-P', join(md, 'cur'), '-e', 'trace=getdents64', '-e', 'inject=getdents64:error=EIO'] });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout + r.stderr).toMatch(/deleting from the source failed: .*; nothing was deleted \(the copy is complete; rerun to delete what is copied\)/);
    expect(server.seen('DELE')).toEqual([]);
  });
});

describe('--delete-source stopped while it deletes', () => {
  const three = [1, 2, 3].map((n) => ({ uid: `u${n}`, body: b(`Message-ID: <${n}@stop>\r\n\r\n${n}\r\n`) }));
  /** Deletions a QUIT committed (the fake keeps its messages; this is what a server would have deleted). */
  let committed: number[] = [];
  const quit = async (s: import('../harness/fake-pop3.js').FakeSession) => {
    committed.push(...s.deleted);
    await s.ok('bye');
    s.socket.end();
  };
  const args = (port: number, work: string, extra: string[] = []) => ['copy', `pop3://u@127.0.0.1:${port}`, `maildir:${join(work, 'md')}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp'), '--delete-source', '--json', ...extra];
  const env = (work: string) => ({ MAILFERRY_SOURCE_PASSWORD: 'pw', XDG_STATE_HOME: join(work, 'state') });

  it('Ctrl-C at the first DELE: nothing is deleted (RSET, no commit), exit 130; the rerun deletes them all', async () => {
    committed = [];
    let child: import('node:child_process').ChildProcess | undefined;
    let signalled = false;
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      messages: three,
      handlers: {
        DELE: async (s, arg) => {
          if (!signalled && child) {
            signalled = true;
            child.kill('SIGINT');
            await new Promise((r) => setTimeout(r, 300));
          }
          s.deleted.add(Number(arg));
          await s.ok('Marked');
        },
        QUIT: quit,
      },
    });
    const work = mkdtempSync(join(tmpdir(), 'mf-delstop-'));
    const r = await runCli(args(server.port, work), { env: env(work), onSpawn: (c) => (child = c) });
    const out = envelope(r);
    expect(signalled).toBe(true);
    expect(out.status, r.stderr).toBe(130);
    expect(out.result).toMatchObject({ copied: 3, interrupted: true, stoppedBy: 'signal' });
    expect(committed).toEqual([]);
    child = undefined;
    const again = envelope(await runCli(args(server.port, work), { env: env(work) }));
    expect(again.status).toBe(0);
    expect(again.result).toMatchObject({ copied: 0, deleted: 3 });
    expect(committed.sort()).toEqual([1, 2, 3]);
  });

  it('--max-runtime reached while it deletes: nothing is deleted, exit 8', async () => {
    committed = [];
    /** When the CLI first spoke to the server: it started before, so its --max-runtime ends before this + 8 s. */
    let spoke: number | undefined;
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      messages: three,
      handlers: {
        CAPA: (s, arg, line) => ((spoke ??= Date.now()), DEFAULT_HANDLERS.CAPA!(s, arg, line)),
        // The first DELE is answered only once --max-runtime has surely passed, however long a
        // loaded machine took to start the CLI (a limit that leaves it time to copy three messages first).
        DELE: async (s, arg) => {
          await new Promise((r) => setTimeout(r, Math.max(0, (spoke ?? Date.now()) + 8500 - Date.now())));
          s.deleted.add(Number(arg));
          await s.ok('Marked');
        },
        QUIT: quit,
      },
    });
    const work = mkdtempSync(join(tmpdir(), 'mf-deltime-'));
    const r = await runCli(args(server.port, work, ['--max-runtime', '8s']), { env: env(work) });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(8);
    expect(out.result).toMatchObject({ copied: 3, interrupted: true, stoppedBy: 'max-runtime' });
    expect(server.seen('DELE').length).toBeGreaterThan(0);
    expect(committed).toEqual([]);
  });

  it('a DELE the server refuses: that message stays, the others are deleted, exit 6 with deleteRefused', async () => {
    committed = [];
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      messages: three,
      handlers: {
        DELE: async (s, arg) => (arg === '2' ? s.err('[SYS/PERM] message is locked') : (s.deleted.add(Number(arg)), await s.ok('Marked'))),
        QUIT: quit,
      },
    });
    const work = mkdtempSync(join(tmpdir(), 'mf-delref-'));
    const r = await runCli(args(server.port, work), { env: env(work) });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result).toMatchObject({ copied: 3, failed: 0, deleted: 2, keptOnSource: 1, deleteRefused: 1 });
    expect(committed.sort()).toEqual([1, 3]);
    const human = await runCli(args(server.port, mkdtempSync(join(tmpdir(), 'mf-delref-'))).filter((a) => a !== '--json'), { env: env(work) });
    expect(human.stderr).toMatch(/message u2: .*refused DELE 2: \[SYS\/PERM\] message is locked; left on the server/);
    expect(human.stdout).toMatch(/deleted 2 messages from the source; 1 left there: the server refused to delete them/);
  });
});

describe('a POP3 server that gives a UIDL again to a new message (RFC 1939 allows it once the old one is gone)', () => {
  const msg = (id: string) => b(`Message-ID: <${id}@reuse>\r\nSubject: ${id}\r\n\r\n${id}\r\n`);
  const run = async (port: number, work: string, extra: string[] = []) =>
    envelope(
      await runCli(['copy', `pop3://u@127.0.0.1:${port}`, `maildir:${join(work, 'md')}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp'), '--json', ...extra], {
        env: { MAILFERRY_SOURCE_PASSWORD: 'pw', XDG_STATE_HOME: join(work, 'state') },
      }),
    );

  it('after --delete-source deleted the old ones (the server then numbered from 1 again): the new messages are copied, not taken for done', async () => {
    server = await FakePop3Server.start({ user: 'u', pass: 'pw', messages: [{ uid: '00000001', body: msg('a1') }, { uid: '00000002', body: msg('a2') }] });
    const work = mkdtempSync(join(tmpdir(), 'mf-reuse-'));
    expect((await run(server.port, work, ['--delete-source'])).result).toMatchObject({ copied: 2, deleted: 2 });
    server.messages.splice(0, server.messages.length, { uid: '00000001', body: msg('b1') }, { uid: '00000002', body: msg('b2') });
    expect((await run(server.port, work)).result).toMatchObject({ copied: 2, skipped: 0 });
    expect(readMaildirTree(join(work, 'md')).get('INBOX')).toHaveLength(4);
  });

  it('after another client deleted one (a run saw it gone): a new message under its UIDL is copied', async () => {
    server = await FakePop3Server.start({ user: 'u', pass: 'pw', messages: [{ uid: 'u1', body: msg('a1') }, { uid: 'u2', body: msg('a2') }] });
    const work = mkdtempSync(join(tmpdir(), 'mf-reuse-'));
    expect((await run(server.port, work)).result.copied).toBe(2);
    server.messages.splice(0, 1);
    expect((await run(server.port, work)).result.copied).toBe(0);
    server.messages.push({ uid: 'u1', body: msg('b1') });
    const third = await run(server.port, work);
    expect(third.result).toMatchObject({ copied: 1, skipped: 0 });
    expect(readMaildirTree(join(work, 'md')).get('INBOX')).toHaveLength(3);
  });
});

describe('a --delete-source job run night after night', () => {
  it('reads from the destination only what it has not stored or read before: the files of earlier nights are known by the checkpoint, not opened again', async () => {
    // The mailbox stays small, the backup grows: were every file of it read at each deletion,
    // a job moving mail for a year would read the whole year's mail every night.
    const msg = (id: string) => b(`Message-ID: <${id}@nights>\r\nSubject: ${id}\r\n\r\n${id}\r\n`);
    server = await FakePop3Server.start({ user: 'u', pass: 'pw', messages: ['a1', 'a2', 'a3'].map((id) => ({ uid: id, body: msg(id) })) });
    const work = mkdtempSync(join(tmpdir(), 'mf-nights-'));
    const md = join(work, 'md');
    const args = ['copy', `pop3://u@127.0.0.1:${server.port}`, `maildir:${md}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp'), '--delete-source', '--json'];
    const env = { MAILFERRY_SOURCE_PASSWORD: 'pw', XDG_STATE_HOME: join(work, 'state') };
    expect(envelope(await runCli(args, { env })).result).toMatchObject({ copied: 3, deleted: 3 });
    // The server deleted them (the fake keeps its messages); a new one came the next day.
    server.messages.splice(0, server.messages.length, { uid: 'b1', body: msg('b1') });
    const trace = join(work, 'trace');
    const r = await runCli(args, { env, wrap: ['strace', '-f', '-qq', '-o', trace, '-e', 'trace=openat'] });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result).toMatchObject({ copied: 1, deleted: 1 });
    const opened = readFileSync(trace, 'latin1').split('\n').filter((l) => l.includes(`"${join(md, 'cur')}/`));
    expect(opened).toHaveLength(1);
    expect(readMaildirTree(md).get('INBOX')).toHaveLength(4);
  });
});
