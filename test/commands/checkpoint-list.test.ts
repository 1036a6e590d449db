// `checkpoint list`: a job whose source moved (its URL edited) starts a new default checkpoint and
// leaves the old one; the list shows both, newest first, and the old one can be reset from it.
// Real CLI, Maildir to Maildir.
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { expectOneLineError } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mf-cplist-'));
const state = join(work, 'state');
const env = { XDG_STATE_HOME: state };

function maildir(dir: string, n: number): void {
  for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(dir, d), { recursive: true });
  for (let i = 1; i <= n; i++) writeFileSync(join(dir, 'cur', `${i}.a.host:2,S`), `Message-ID: <m${i}@cplist>\n\nbody ${i}\n`);
}

beforeAll(() => {
  maildir(join(work, 'old-server'), 3);
  maildir(join(work, 'new-server'), 4);
});

describe('checkpoint list', () => {
  it('with no checkpoint yet: says so, exit 0; a DIR that does not exist or is a file: exit 3, one line', async () => {
    const none = await runCli(['checkpoint', 'list'], { env: { XDG_STATE_HOME: join(work, 'fresh') } });
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout.trim()).toBe(`no checkpoints in ${join(work, 'fresh', 'mailferry')}`);
    expectOneLineError(await runCli(['checkpoint', 'list', join(work, 'nowhere')], { env }), 3, /cannot list checkpoints in .*nowhere: no such/);
    const file = join(work, 'a-file');
    writeFileSync(file, 'x\n');
    expectOneLineError(await runCli(['checkpoint', 'list', file], { env }), 3, /cannot list checkpoints in .*a-file: it is not a directory/);
  });

  it('lists each job of the state directory, newest first, and nothing else there; the old one found is reset', async () => {
    const dest = `maildir:${join(work, 'backup')}`;
    const first = envelope(await runCli(['copy', `maildir:${join(work, 'old-server')}`, dest, '--json'], { env }));
    expect(first.status).toBe(0);
    const oldCp = first.result.checkpoint as string;
    // An hour later, the source moved: the job's URL is edited, a new checkpoint is made.
    utimesSync(oldCp, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
    const second = envelope(await runCli(['copy', `maildir:${join(work, 'new-server')}`, dest, '--json'], { env }));
    expect(second.status).toBe(0);
    const newCp = second.result.checkpoint as string;
    expect(newCp).not.toBe(oldCp);
    // Not checkpoints: a file of another program, a leftover.
    writeFileSync(join(state, 'mailferry', 'notes.txt'), 'mine\n');
    writeFileSync(join(state, 'mailferry', 'empty.journal'), '');

    const r = await runCli(['checkpoint', 'list', '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.dir).toBe(join(state, 'mailferry'));
    expect(out.result.checkpoints.map((c: { path: string }) => c.path)).toEqual([newCp, oldCp]);
    expect(Object.keys(out.result.checkpoints[0]).sort()).toEqual(['bytes', 'created', 'dest', 'locked', 'modified', 'path', 'source']);
    expect(out.result.checkpoints[1]).toMatchObject({ source: `maildir:${join(work, 'old-server')}`, dest, locked: null });
    expect(out.result.checkpoints[1].bytes).toBeGreaterThan(0);

    const human = await runCli(['checkpoint', 'list'], { env });
    expect(human.stdout).toContain(`2 checkpoints in ${join(state, 'mailferry')}, newest first:`);
    expect(human.stdout).toContain(`maildir:${join(work, 'old-server')} → ${dest}`);

    expect(envelope(await runCli(['checkpoint', 'reset', oldCp, '--json'], { env })).result.removed).toBe(true);
    const after = envelope(await runCli(['checkpoint', 'list', '--json'], { env }));
    expect(after.result.checkpoints.map((c: { path: string }) => c.path)).toEqual([newCp]);
    // Given as DIR, the same.
    const given = envelope(await runCli(['checkpoint', 'list', join(state, 'mailferry'), '--json'], { env }));
    expect(given.result.checkpoints.map((c: { path: string }) => c.path)).toEqual([newCp]);
  });
});
