/** Where checkpoints live by default: $XDG_STATE_HOME/mailferry/<job>.journal. */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function stateDir(): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'mailferry');
}

export function jobKey(source: string, dest: string): string {
  return createHash('sha256').update(`${source}\n${dest}`).digest('hex');
}

export function defaultCheckpointPath(source: string, dest: string): string {
  const dir = stateDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return join(dir, `${jobKey(source, dest).slice(0, 16)}.journal`);
}
