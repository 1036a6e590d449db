// A fresh file system for one bench run: an ext4 made with mkfs.ext4's defaults (so with a
// journal, as an installed system has) in a sparse image file, mounted through a loop device
// with direct I/O (the image's writes and flushes go to the disk, not into a second page cache).
// Why: on the file system the work dir happens to be on, figures depend on its history. An ext4
// without a journal skips every inode freed in the last 12 hours (recently_deleted(), while the
// inode table is cached) when it allocates one, so a copy's kernel time grows with what the test
// suites or earlier benches deleted there, and differs run to run. A fresh one starts empty.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp } from 'node:fs/promises';
import path from 'node:path';

export interface ScratchFs {
  /** The mounted file system's root. */
  dir: string;
  /** For the machine note: what the work dir is. */
  note: string;
  /** Unmounts, detaches the loop device, deletes the image; also done when the process exits. */
  release(): void;
  /** Leaves it mounted when the process exits (--keep). */
  keep(): void;
}

const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

const why = (e: unknown): string => {
  const err = e as { stderr?: string; message?: string };
  return (err.stderr?.trim() || err.message || String(e)).split('\n')[0]!;
};

/**
 * Makes and mounts the image under `parent`, or says why it cannot (not root, no loop devices in
 * a container, no mkfs.ext4): the bench then runs in `parent` itself.
 */
export async function freshExt4(parent: string, sizeGiB: number): Promise<ScratchFs | string> {
  if (process.getuid?.() !== 0) return 'not root (mounting a loop device needs it)';
  await mkdir(parent, { recursive: true });
  const base = await mkdtemp(path.join(parent, 'mf-bench-fs-'));
  const image = path.join(base, 'ext4.img');
  const dir = path.join(base, 'mnt');
  let loop = '';
  let mounted = false;
  // Synchronous, so that it also runs on 'exit' (a failed or interrupted bench). Lazy: a process
  // still in the file system (a Dovecot being stopped) does not keep it mounted.
  const release = (): void => {
    process.off('exit', release);
    try {
      if (mounted) run('umount', ['-l', dir]);
      if (loop) run('losetup', ['-d', loop]);
    } finally {
      mounted = false;
      loop = '';
      rmSync(base, { recursive: true, force: true });
    }
  };
  process.on('exit', release);
  try {
    run('truncate', ['-s', `${sizeGiB}G`, image]);
    // One inode per 8 KiB (the ×10 runs and their peers' copies are ~500,000 files); inode
    // tables and journal zeroed now (cheap on a sparse file), so no ext4lazyinit thread writes
    // during the runs.
    run('mkfs.ext4', ['-q', '-F', '-i', '8192', '-E', 'lazy_itable_init=0,lazy_journal_init=0', image]);
    loop = run('losetup', ['--find', '--show', '--direct-io=on', image]);
    await mkdir(dir);
    run('mount', ['-t', 'ext4', loop, dir]);
    mounted = true;
    // Dovecot's auth and mail processes (not root) go through both.
    await chmod(base, 0o755);
    await chmod(dir, 0o755);
  } catch (e) {
    try {
      release();
    } catch {
      // the reason it could not be made is what counts
    }
    return why(e);
  }
  return { dir, note: `a fresh ext4 (mkfs.ext4 defaults, journal), ${sizeGiB} GiB sparse image in ${parent} on ${loop} with direct I/O`, release, keep: () => void process.off('exit', release) };
}
