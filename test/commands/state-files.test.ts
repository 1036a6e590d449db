// The checkpoint and the locks decide what a run copies, so no other user may write them: a state
// directory writable by every user (not sticky) or owned by someone else is refused, a checkpoint
// owned by another user is not read, and the checkpoint's temporary file is created new under a
// name no one can guess (a link planted in its place is never written through).
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';

const NOBODY = 65534;

function setup() {
  const box = mkdtempSync(join(tmpdir(), 'mf-state-'));
  const src = join(box, 'src');
  for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(src, d), { recursive: true });
  writeFileSync(join(src, 'cur', '1.a.host:2,S'), 'Message-ID: <s1@state.example>\nSubject: one\n\nbody\n');
  return { box, args: (...more: string[]) => ['copy', `maildir:${src}`, `maildir:${join(box, 'dest')}`, '--json', ...more] };
}

describe('state files no other user can write', () => {
  it('a state directory writable by every user is refused (exit 3); a sticky one (as /tmp) is not', async () => {
    const { box, args } = setup();
    const state = join(box, 'state');
    mkdirSync(join(state, 'mailferry'), { recursive: true });
    chmodSync(join(state, 'mailferry'), 0o777);
    const r = envelope(await runCli(args(), { env: { XDG_STATE_HOME: state } }));
    expect(r.status).toBe(3);
    expect(r.error?.message).toMatch(/state directory .*mailferry is writable by every user: its checkpoints and locks could be replaced/);
    chmodSync(join(state, 'mailferry'), 0o1777);
    expect(envelope(await runCli(args(), { env: { XDG_STATE_HOME: state } })).status).toBe(0);
  });

  it('a checkpoint directory owned by another user is refused, and so is a checkpoint file of another user', async () => {
    const { box, args } = setup();
    const theirs = join(box, 'theirs');
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, NOBODY, NOBODY);
    const env = { XDG_STATE_HOME: join(box, 'state') };
    const a = envelope(await runCli(args('--checkpoint', join(theirs, 'cp')), { env }));
    expect(a.status).toBe(3);
    expect(a.error?.message).toMatch(/checkpoint directory .*theirs is owned by another user/);
    expect(envelope(await runCli(args('--checkpoint', join(box, 'cp')), { env })).status).toBe(0);
    chownSync(join(box, 'cp'), NOBODY, NOBODY);
    const b = envelope(await runCli(args('--checkpoint', join(box, 'cp')), { env }));
    expect(b.status).toBe(3);
    expect(b.error?.message).toMatch(/checkpoint .*cp belongs to another user/);
  });

  it("links planted where the checkpoint's temporary file used to be named are never written through", async () => {
    const { box, args } = setup();
    const dir = join(box, 'cpdir');
    mkdirSync(dir, { mode: 0o700 });
    const victim = join(box, 'victim');
    writeFileSync(victim, 'ORIGINAL\n', { mode: 0o600 });
    // The old name was .NAME.PID.tmp: plant it for every pid a child could get next.
    const first = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
    for (let pid = first; pid < first + 400; pid++) symlinkSync(victim, join(dir, `.cp.${pid}.tmp`));
    const r = envelope(await runCli(args('--checkpoint', join(dir, 'cp')), { env: { XDG_STATE_HOME: join(box, 'state') } }));
    expect(r.status).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('ORIGINAL\n');
    expect(readFileSync(join(dir, 'cp'), 'utf8')).toMatch(/^\{"t":"mailferry-checkpoint"/);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp') && !n.startsWith('.cp.'))).toEqual([]);
  });
});

describe('a run started where the system gives it no home or no working directory', () => {
  it('a uid with no account entry and no HOME (docker run --user 12345): --version works, a copy says in one line what to set (exit 3), and runs with XDG_STATE_HOME', async () => {
    const { box, args } = setup();
    // The system's answer for such a uid, in this process: os.homedir() throws unless HOME is
    // set (libuv reads HOME first), os.userInfo() throws.
    const preload = join(box, 'no-home.mjs');
    writeFileSync(
      preload,
      `import os from 'node:os';
import { syncBuiltinESMExports } from 'node:module';
os.homedir = () => { if (process.env.HOME) return process.env.HOME; throw Object.assign(new Error('ENOENT (no such file or directory)'), { code: 'ENOENT', syscall: 'uv_os_homedir' }); };
os.userInfo = () => { throw Object.assign(new Error('uv_os_get_passwd returned ENOENT'), { code: 'ENOENT', syscall: 'uv_os_get_passwd' }); };
syncBuiltinESMExports();
`,
    );
    // SHELL unset too, as in a container (and on CI): oclif then asks os.userInfo() for the login shell.
    const env = { NODE_OPTIONS: `--import=${preload}`, HOME: undefined, SHELL: undefined, XDG_STATE_HOME: undefined };
    const version = await runCli(['--version'], { env });
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^mailferry\//);
    const r = envelope(await runCli(args(), { env }));
    expect(r).toMatchObject({ status: 3, error: { code: 'BAD_CONFIG', hint: expect.stringContaining('XDG_STATE_HOME') } });
    expect(r.error?.message).toMatch(/^no home directory for mailferry's state/);
    const ok = envelope(await runCli(args(), { env: { ...env, XDG_STATE_HOME: join(box, 'state') } }));
    expect(ok).toMatchObject({ status: 0, result: { copied: 1 } });
    // verify only reads, and a checkpoint is a help to it, not a need: it works without a home.
    const [, from, to] = args();
    const check = envelope(await runCli(['verify', from!, to!, '--json'], { env }));
    expect(check).toMatchObject({ status: 0, result: { ok: true, missing: 0 } });
  });

  it('a working directory removed since the run began, with a relative path: one line, exit 3 (not an internal error)', async () => {
    const { box } = setup();
    const gone = join(box, 'gone');
    mkdirSync(gone);
    const r = await runCli(['copy', `maildir:${join(box, 'src')}`, 'maildir:relative-dest', '--checkpoint', join(box, 'cwd.journal'), '--json'], {
      wrap: ['sh', '-c', 'cd "$0" && rmdir "$0" && exec "$@"', gone],
    });
    const out = envelope(r);
    expect(out).toMatchObject({ status: 3, error: { code: 'BAD_CONFIG', message: 'the current directory no longer exists, so a relative path cannot be resolved' } });
  });
});
