// A mail client reading the backup while a run scans it (mutt on a Maildir: it renames a file to
// change its flags, moves new/ to cur/). The scan of a destination folder (after a lost checkpoint,
// --restart, and every verify) once took a renamed file for gone: the message was copied again
// (150 → 378 files in five reruns), verify said "missing", and a message without a Message-ID
// (read whole for its digest) ended the run at exit 1. Real CLI, Maildir to Maildir, a child
// process renaming files all the while.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { sandbox } from './helpers.js';

let renamer: ChildProcess | undefined;
afterEach(() => {
  renamer?.kill('SIGKILL');
  renamer = undefined;
});

/** Toggles the S flag of every file in `cur`, and moves new/ files to cur/, over and over. */
function startRenamer(folder: string): ChildProcess {
  const code = `
const fs = require('node:fs'), path = require('node:path');
const cur = path.join(process.argv[1], 'cur'), nw = path.join(process.argv[1], 'new');
for (;;) {
  for (const f of fs.readdirSync(nw)) { try { fs.renameSync(path.join(nw, f), path.join(cur, f + ':2,')); } catch {} }
  for (const f of fs.readdirSync(cur)) {
    const i = f.indexOf(':2,'); const base = i < 0 ? f : f.slice(0, i); const flags = i < 0 ? '' : f.slice(i + 3);
    try { fs.renameSync(path.join(cur, f), path.join(cur, base + ':2,' + (flags.includes('S') ? '' : 'S'))); } catch {}
  }
}`;
  return spawn(process.execPath, ['-e', code, folder], { stdio: 'ignore' });
}

describe('a mail client renaming files in the destination while it is scanned', () => {
  it('reruns without the checkpoint copy nothing again, verify finds nothing missing, no internal error', async () => {
    const box = sandbox('mf-client-');
    const src = join(box, 'src');
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(src, d), { recursive: true });
    for (let i = 1; i <= 150; i++) {
      // Every tenth without a Message-ID: its identity is a digest of the whole file.
      const id = i % 10 === 0 ? '' : `Message-ID: <race-${i}@client>\n`;
      writeFileSync(join(src, 'cur', `${i}.m.host:2,S`), `From: a@b\n${id}Subject: r${i}\n\nbody ${i}\n`);
    }
    const dest = join(box, 'dest');
    const args = ['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json'];
    expect(envelope(await runCli(args)).result.copied).toBe(150);
    renamer = startRenamer(dest);
    await new Promise((r) => setTimeout(r, 200));
    for (let run = 0; run < 3; run++) {
      const out = envelope(await runCli([...args, '--restart']));
      expect(out.status, JSON.stringify(out.error ?? out.result.failures)).toBe(0);
      expect(out.result.copied, `run ${run}`).toBe(0);
      const v = envelope(await runCli(['verify', `maildir:${src}`, `maildir:${dest}`, '--json']));
      expect(v.result, JSON.stringify(v.error)).toMatchObject({ missing: 0, duplicates: 0 });
    }
    renamer.kill('SIGKILL');
    expect(readdirSync(join(dest, 'cur')).length + readdirSync(join(dest, 'new')).length).toBe(150);
  });
});
