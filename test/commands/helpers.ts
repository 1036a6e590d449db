// Shared bits of the command tests: the harness source URL, a snapshot of a Maildir tree, and
// the "one clear line" check of an error run.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { CliResult } from '../harness/cli.js';
import { harness } from '../harness/env.js';

export const h = harness();
export const srcUrl = (folder = '') => `imap://${h.user.name}@${h.host}:${h.ports.imap}${folder ? '/' + folder : ''}`;
export const tls = ['--tls-ca', h.certPem];
/** Messages of a folder in the seeded user, as the manifest says. */
export const seeded = (folder: string) => h.manifest().filter((m) => m.folder === folder);

/** Every file under root (relative path → sha256 of its bytes); directories end with '/'. */
export function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      if (statSync(p).isDirectory()) {
        out.set(r + '/', '');
        walk(p, r);
      } else out.set(r, createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(root, '');
  return out;
}

/** An error run: the exit code, exactly one line on stderr, no stack trace, nothing on stdout. */
export function expectOneLineError(r: CliResult, code: number, pattern: RegExp): void {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(r.code, `stderr: ${r.stderr}\nstdout: ${r.stdout}`).toBe(code);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^mailferry: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s{4}at /m);
  expect(r.stdout).toBe('');
}
