// A checkpoint that cannot be written whole (a full disk, a file size limit): the run ends with
// one line naming the checkpoint (exit 3), not a crash, and leaves no half record behind for a
// later append to follow; the rerun goes on from there and stores nothing twice.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { sandbox } from './helpers.js';

describe('a checkpoint the file system will not take whole', () => {
  it('under a file size limit the checkpoint outgrows: exit 3 naming it; the rerun copies the rest, each message once', async () => {
    const box = sandbox('mf-cpfull-');
    const src = join(box, 'src');
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(src, d), { recursive: true });
    const n = 400;
    for (let i = 0; i < n; i++) writeFileSync(join(src, 'cur', `${1000 + i}.m${i}.host:2,S`), `Message-ID: <m${i}@full.example>\nSubject: ${i}\n\nbody ${i}\n`);
    const dest = join(box, 'dest');
    const args = ['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json'];
    // Files of this process may not grow past 24 KiB (the checkpoint will); SIGXFSZ ignored, so a
    // write past the limit is cut short, then refused with EFBIG, as a full disk cuts and refuses.
    const limited = await runCli(args, { wrap: ['sh', '-c', 'trap "" XFSZ; ulimit -f 24; exec "$@"', 'sh'] });
    const first = envelope(limited);
    expect(first.status, limited.stderr).toBe(3);
    expect(first.error?.message).toMatch(/^cannot write checkpoint .*\/cp: file too large/);
    // Named for what failed (a script tells a full disk from a wrong setting by the code).
    expect(first.error?.code).toBe('CHECKPOINT_IO');
    expect(limited.stderr).not.toMatch(/\n\s+at /);
    const again = envelope(await runCli(args));
    expect(again.status, JSON.stringify(again.error)).toBe(0);
    const files = readdirSync(join(dest, 'cur'));
    expect(files).toHaveLength(n);
    expect(again.result.copied + again.result.skipped).toBeLessThanOrEqual(n);
    // The checkpoint reads back whole, every message in it.
    const show = envelope(await runCli(['checkpoint', 'show', join(box, 'cp'), '--json']));
    expect(show.status, JSON.stringify(show.error)).toBe(0);
    const third = envelope(await runCli(args));
    expect(third.result).toMatchObject({ copied: 0 });
  });

  it('a lock that cannot be written whole: exit 3, and no file of its own left behind', async () => {
    const box = sandbox('mf-lockfull-');
    const src = join(box, 'src');
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(src, d), { recursive: true });
    writeFileSync(join(src, 'cur', '1.a.host:2,S'), 'Message-ID: <a@full.example>\n\nbody\n');
    const cpDir = join(box, 'state');
    mkdirSync(cpDir);
    const r = await runCli(['copy', `maildir:${src}`, `maildir:${join(box, 'dest')}`, '--checkpoint', join(cpDir, 'cp'), '--json'], { wrap: ['sh', '-c', 'trap "" XFSZ; ulimit -f 0; exec "$@"', 'sh'] });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(3);
    expect(out.error?.message).toMatch(/^cannot create the lock .*: file too large/);
    expect(readdirSync(cpDir)).toEqual([]);
  });
});
