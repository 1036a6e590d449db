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
