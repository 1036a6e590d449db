/**
 * Where the files of one Maildir folder are now. A mail client changing flags renames a file (a
 * new `:2,` suffix), and one marking a whole folder read renames every file, while a copy lists
 * and reads them; a single directory read taken during renames may miss a file altogether (POSIX
 * leaves an entry renamed during a readdir unspecified: the old name already gone, the new one
 * hashed behind the read). So a file not found where it was seen is looked for again by its key
 * in a fresh read of the folder: new/ before cur/ (a file moves only from new/ to cur/, so a move
 * between the two reads is seen in cur/), a few times. One read at a time per folder, shared by
 * every lookup that missed meanwhile: a folder marked read as it is copied costs a few directory
 * reads, not one per file.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { keyOfFileName } from './unique.js';

export interface FileRef {
  /** Directory (relative to the folder) and current file name. */
  sub: 'cur' | 'new';
  name: string;
  /** The inode, for a file whose key another file of the folder shares (sameKey): told apart by it when renamed. */
  ino?: number;
}

/** Fresh reads of the folder before a file not found is taken for gone. */
export const RELOOKS = 5;

export class FolderFiles {
  private generation = 0;
  private pass: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    /** Key → file; the refs are updated in place by each read of the folder. */
    readonly byKey: Map<string, FileRef>,
  ) {}

  /** The file of `key` as last seen, and the read it was seen in (for `relook`). */
  where(key: string): { path: string | undefined; seen: number } {
    const f = this.byKey.get(key);
    return { path: f ? join(this.dir, f.sub, f.name) : undefined, seen: this.generation };
  }

  /**
   * After a file was not where it was seen in read `seen`: a fresh read of the folder, unless one
   * finished since (its result is used). Files told apart by inode (`ino`) are left to the caller.
   */
  async relook(seen: number): Promise<void> {
    if (this.generation !== seen) return;
    this.pass ??= this.read().finally(() => {
      this.generation++;
      this.pass = undefined;
    });
    await this.pass;
  }

  private async read(): Promise<void> {
    for (const sub of ['new', 'cur'] as const) {
      const names = await fs.readdir(join(this.dir, sub)).catch(() => [] as string[]);
      for (const name of names) {
        const f = this.byKey.get(keyOfFileName(name));
        if (f && f.ino === undefined) {
          f.sub = sub;
          f.name = name;
        }
      }
    }
  }
}
