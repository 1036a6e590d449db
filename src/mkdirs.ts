/**
 * `mkdir -p`, one level at a time. Node's own `{recursive: true}` never returns when the kernel
 * says ENOENT for a directory whose parent exists (under /proc or /sys): it creates the parent
 * again and retries, forever, on the main thread. Here each missing level is made once, and the
 * first error is the caller's.
 */
import { mkdirSync, statSync, promises as fs, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** The levels of `dir` that do not exist yet, outermost first; the level above them must be a directory. */
function missingLevels(dir: string): string[] {
  const missing: string[] = [];
  for (let p = resolve(dir); ; ) {
    const st = statOrNull(p);
    if (st) {
      if (!st.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${p}'`), { code: 'ENOTDIR', path: p });
      return missing;
    }
    missing.unshift(p);
    const up = dirname(p);
    if (up === p) return missing;
    p = up;
  }
}

const isEexist = (err: unknown) => (err as NodeJS.ErrnoException).code === 'EEXIST';

function statOrNull(p: string): Stats | null {
  try {
    return statSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export function mkdirsSync(dir: string, mode: number): void {
  for (const p of missingLevels(dir)) {
    try {
      mkdirSync(p, { mode });
    } catch (err) {
      if (!isEexist(err)) throw err;
    }
  }
}

export async function mkdirs(dir: string, mode: number): Promise<void> {
  // The walk up is a few stats of directories that exist; synchronous is simpler and as fast.
  for (const p of missingLevels(dir)) {
    await fs.mkdir(p, { mode }).catch((err: unknown) => {
      if (!isEexist(err)) throw err;
    });
  }
}
