// Nothing hangs forever: a server that accepts and never greets, one that never answers LOGIN,
// and one that goes silent in the middle of the listing. Real CLI, --timeout 2.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { FakeImapServer } from '../harness/fake-imap.js';
import { FakePop3Server } from '../harness/fake-pop3.js';
import { fakeMessage, sandbox } from './helpers.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function run(port: number, extra: string[] = []) {
  const box = sandbox('mf-timeout-');
  const started = Date.now();
  const r = await runCli(['copy', `imap://u@127.0.0.1:${port}`, `maildir:${join(box, 'dest')}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json', '--timeout', '2', ...extra], {
    env: { MAILFERRY_SOURCE_PASSWORD: 'pass' },
    timeoutMs: 60_000,
  });
  return { r, out: envelope(r), seconds: (Date.now() - started) / 1000 };
}

describe('timeouts', () => {
  it('a server that accepts the connection and never greets: exit 5 within the timeout, a clear line', async () => {
    const sockets: net.Socket[] = [];
    const mute = net.createServer((s) => sockets.push(s));
    await new Promise<void>((res) => mute.listen(0, '127.0.0.1', res));
    closers.push(() => new Promise((res) => (sockets.forEach((s) => s.destroy()), mute.close(() => res()))));
    const { r, out, seconds } = await run((mute.address() as net.AddressInfo).port);
    expect(out.status, r.stderr).toBe(5);
    expect(out.error?.code).toBe('TIMEOUT');
    expect(out.error?.message).toMatch(/sent no IMAP greeting/);
    expect(seconds).toBeLessThan(15);
  });

  it('a server that never answers LOGIN: exit 5, no hang', async () => {
    const srv = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: [] }], hook: (_s, _tag, name) => name === 'LOGIN' });
    closers.push(() => srv.stop());
    const { r, out, seconds } = await run(srv.port);
    expect(out.status, r.stderr).toBe(5);
    expect(['TIMEOUT', 'NETWORK']).toContain(out.error?.code);
    expect(seconds).toBeLessThan(15);
  });

  it('a server that goes silent in the middle of every listing: retried, then exit 6 naming the folder', async () => {
    const srv = await FakeImapServer.start({
      mailboxes: [{ name: 'INBOX', messages: [{ uid: 1, body: fakeMessage(1) }] }],
      hook: (s, _tag, name, args) => {
        if (!(name === 'UID FETCH' && /RFC822\.SIZE/i.test(args))) return false;
        s.send('* 1 FETCH (UID 1 RFC822.SIZE 10'); // and nothing more
        return true;
      },
    });
    closers.push(() => srv.stop());
    const { r, out, seconds } = await run(srv.port, ['--retries', '1']);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.folders[0].error).toMatch(/sent nothing for 2 s/);
    expect(out.warnings.join('\n')).toMatch(/listing INBOX: .*sent nothing for 2 s.*retry 1\/1/);
    expect(seconds).toBeLessThan(30);
  });

  it('a server that answers LIST a byte every half second, never ending: cut, exit 5 (no hang)', async () => {
    const srv = await FakeImapServer.start({
      mailboxes: [{ name: 'INBOX', messages: [{ uid: 1, body: fakeMessage(1) }] }],
      hook: (s, _tag, name) => {
        if (name !== 'LIST') return false;
        s.send('* LIST () "/" "INBOX"\r\n* LIST () "/" "');
        const t = setInterval(() => (s.closed ? clearInterval(t) : s.send('x')), 500);
        return true;
      },
    });
    closers.push(() => srv.stop());
    const { r, out, seconds } = await run(srv.port, ['--retries', '1']);
    expect(out.status, r.stderr).toBe(5);
    expect(out.error?.message).toMatch(/sent only a trickle for 6 s: cut/);
    expect(seconds).toBeLessThan(40);
  });

  it('a POP3 server that answers UIDL a byte every half second, never ending: cut, exit 5 (no hang)', async () => {
    const srv = await FakePop3Server.start({
      user: 'u',
      pass: 'pass',
      messages: [{ uid: 'a', body: fakeMessage(1) }],
      handlers: {
        UIDL: (s) => {
          s.write('+OK\r\n1 a');
          const t = setInterval(() => (s.closed || s.socket.destroyed ? clearInterval(t) : void s.write('x')), 500);
        },
      },
    });
    closers.push(() => srv.close());
    const box = sandbox('mf-timeout-');
    const started = Date.now();
    const r = await runCli(['copy', `pop3://u@127.0.0.1:${srv.port}`, `maildir:${join(box, 'dest')}`, '--source-tls', 'none', '--json', '--timeout', '2', '--retries', '0'], { env: { MAILFERRY_SOURCE_PASSWORD: 'pass' }, timeoutMs: 60_000 });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(5);
    expect(out.error?.message).toMatch(/sent only a trickle for 6 s while we waited for the UIDL/);
    expect((Date.now() - started) / 1000).toBeLessThan(30);
  });

  it('--max-runtime stops a run held by a server that never ends its answer (an endless LIST, before anything is copied): exit 8 at the deadline', async () => {
    const srv = await FakeImapServer.start({
      mailboxes: [{ name: 'INBOX', messages: [{ uid: 1, body: fakeMessage(1) }] }],
      hook: (s, _tag, name) => {
        if (name !== 'LIST') return false;
        let i = 0;
        const t = setInterval(() => {
          if (s.closed) return clearInterval(t);
          let lines = '';
          for (let k = 0; k < 100; k++) lines += `* LIST () "/" "f${i++}"\r\n`;
          s.send(lines);
        }, 10);
        return true;
      },
    });
    closers.push(() => srv.stop());
    const { r, out, seconds } = await run(srv.port, ['--max-runtime', '2s']);
    expect(out.status, r.stderr).toBe(8);
    expect(out.error?.message).toMatch(/--max-runtime 2s reached before anything was copied/);
    expect(seconds).toBeLessThan(10);
  });

  it('--max-runtime while copying, held by a FETCH of bodies that never ends: what is in flight gets twice --timeout, then exit 8 at once', async () => {
    const srv = await FakeImapServer.start({
      mailboxes: [{ name: 'INBOX', messages: [{ uid: 1, body: fakeMessage(1) }] }],
      // The body is begun and never ended: a byte now and then, within every --timeout.
      hook: (s, _tag, name, args) => {
        if (name !== 'UID FETCH' || !/BODY\.PEEK\[\]|BINARY/.test(args)) return false;
        s.send('* 1 FETCH (UID 1 BODY[] {10000000}\r\n');
        const t = setInterval(() => (s.closed ? clearInterval(t) : s.send('x')), 200);
        return true;
      },
    });
    closers.push(() => srv.stop());
    const { r, out, seconds } = await run(srv.port, ['--max-runtime', '2s']);
    expect(out.status, r.stderr).toBe(8);
    expect(out.error?.message).toMatch(/--max-runtime 2s reached, and what was in flight did not finish within 4 s: stopped at once/);
    expect(seconds).toBeLessThan(20);
  });

  it('--max-runtime reached in a later folder: a folder copied whole before the stop is recorded complete, so the next night does not list it again', async () => {
    // A first backup spread over several nights: were a finished folder recorded complete only
    // when a whole run ends, every night would list again all that the nights before copied.
    let slow = true;
    const srv = await FakeImapServer.start({
      mailboxes: [
        { name: 'INBOX', uidValidity: 7, messages: [1, 2, 3].map((n) => ({ uid: n, body: fakeMessage(n) })) },
        { name: 'Later', uidValidity: 8, messages: [{ uid: 1, body: fakeMessage(4) }] },
      ],
      // Later's bodies come after the deadline (and within twice --timeout): the run stops while copying it.
      hook: async (s, _tag, name, args) => {
        if (slow && name === 'UID FETCH' && s.selected?.name === 'Later' && /BODY\.PEEK\[\]/.test(args)) await new Promise((r) => setTimeout(r, 6000));
        return false;
      },
    });
    closers.push(() => srv.stop());
    const box = sandbox('mf-nights-');
    const night = (extra: string[]) =>
      runCli(['copy', `imap://u@127.0.0.1:${srv.port}`, `maildir:${join(box, 'dest')}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json', '--timeout', '4', '-j', '1', ...extra], {
        env: { MAILFERRY_SOURCE_PASSWORD: 'pass' },
        timeoutMs: 60_000,
      });
    // 4 s: the first folder is copied well before it, on a loaded machine too.
    const first = await night(['--max-runtime', '4s']);
    const one = envelope(first);
    expect(one.status, first.stderr).toBe(8);
    expect(one.result?.folders.find((f: { folder: string }) => f.folder === 'INBOX')).toMatchObject({ listed: 3, copied: 3 });
    slow = false;
    const second = await night([]);
    const two = envelope(second);
    expect(two.status, second.stderr).toBe(0);
    expect(two.result?.folders.find((f: { folder: string }) => f.folder === 'INBOX')).toMatchObject({ listed: 0, copied: 0, unchanged: true });
    expect(two.result?.folders.find((f: { folder: string }) => f.folder === 'Later')).toMatchObject({ copied: 1 });
  });

  describe('stopped before anything is copied (a login that does not come, a password command that hangs)', () => {
    const mute = async () => {
      const sockets: net.Socket[] = [];
      const srv = net.createServer((x) => sockets.push(x));
      await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
      closers.push(() => new Promise((res) => (sockets.forEach((x) => x.destroy()), srv.close(() => res()))));
      return (srv.address() as net.AddressInfo).port;
    };
    const stopAfter = (ms: number, sig: NodeJS.Signals) => (c: import('node:child_process').ChildProcess) => void setTimeout(() => c.kill(sig), ms);

    it('SIGTERM while the server has not greeted: exit 130 at once (not the greeting timeout, exit 5), no lock left', async () => {
      const port = await mute();
      const box = sandbox('mf-early-');
      const started = Date.now();
      const r = await runCli(['copy', `imap://u@127.0.0.1:${port}`, `maildir:${join(box, 'dest')}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json', '--timeout', '30'], {
        env: { MAILFERRY_SOURCE_PASSWORD: 'pass' },
        onSpawn: stopAfter(1500, 'SIGTERM'),
      });
      const out = envelope(r);
      expect(out.status, r.stderr).toBe(130);
      expect(out.error?.code).toBe('INTERRUPTED');
      expect((Date.now() - started) / 1000).toBeLessThan(10);
      expect(readdirSync(box).filter((n) => n.endsWith('.lock'))).toEqual([]);
    });

    it('--max-runtime reached while the server has not greeted: exit 8 at once', async () => {
      const port = await mute();
      const box = sandbox('mf-early-');
      const started = Date.now();
      const r = await runCli(['copy', `imap://u@127.0.0.1:${port}`, `maildir:${join(box, 'dest')}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json', '--timeout', '30', '--max-runtime', '2s'], {
        env: { MAILFERRY_SOURCE_PASSWORD: 'pass' },
      });
      const out = envelope(r);
      expect(out.status, r.stderr).toBe(8);
      expect(out.error?.code).toBe('TIME_UP');
      expect((Date.now() - started) / 1000).toBeLessThan(10);
    });

    it('Ctrl-C while --source-password-command hangs: exit 130 at once, and the command is ended too', async () => {
      const box = sandbox('mf-early-');
      const marker = `${Math.floor(Math.random() * 1e6) + 300}.5`;
      const r = await runCli(['copy', 'imap://u@127.0.0.1:1', `maildir:${join(box, 'dest')}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json', '--source-password-command', `sleep ${marker}`], {
        onSpawn: stopAfter(1500, 'SIGINT'),
      });
      const out = envelope(r);
      expect(out.status, r.stderr).toBe(130);
      await new Promise((res) => setTimeout(res, 300));
      expect(execFileSync('ps', ['-eo', 'args']).toString()).not.toContain(`sleep ${marker}`);
    });
  });
});
