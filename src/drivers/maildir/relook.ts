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
const RELOOKS = 5;

export class FolderFiles {
  private generation = 0;
  private pass: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    /** Key → file; the refs are updated in place by each read of the folder. */
    readonly byKey: Map<string, FileRef>,
  ) {}

  /**
   * `use` on the file of `key` where it was last seen; while that fails with ENOENT (renamed
   * meanwhile), again where a fresh read of the folder finds it, RELOOKS times at most. Undefined
   * when it is not found again: gone. A file told apart by inode (`ino`) is not looked for here.
   */
  async at<T>(key: string, use: (path: string) => Promise<T>): Promise<T | undefined> {
    for (let attempt = 0; ; attempt++) {
      const f = this.byKey.get(key);
      if (!f) return undefined;
      const seen = this.generation;
      try {
        return await use(join(this.dir, f.sub, f.name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (attempt >= RELOOKS || f.ino !== undefined) return undefined;
      await this.relook(seen);
    }
  }

  /** After a file was not where it was seen in read `seen`: a fresh read of the folder, unless one finished since (its result is used). */
  private async relook(seen: number): Promise<void> {
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
