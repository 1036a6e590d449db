// What the figures were measured on: enough to judge whether two RESULTS.md are comparable.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

const sh = (cmd: string, args: string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return '?';
  }
};

export interface MachineNote {
  cpu: string;
  cores: number;
  memGiB: number;
  kernel: string;
  node: string;
  dovecot: string;
  workFs: string;
  commit: string;
}

/** `made`: what the work dir is, when the bench made it (scratch-fs.ts). */
export function machineNote(workDir: string, root: string, made?: string): MachineNote {
  const dirty = sh('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no']) ? ' (with uncommitted changes)' : '';
  return {
    cpu: os.cpus()[0]?.model.trim() ?? '?',
    cores: os.cpus().length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    dovecot: sh('dovecot', ['--version']),
    workFs: workFsNote(workDir) + (made ? `: ${made}` : ''),
    commit: sh('git', ['-C', root, 'rev-parse', '--short', 'HEAD']) + dirty,
  };
}

/**
 * "ext4 /dev/vda (/tmp), no journal". An ext4 without a journal skips recently freed inodes when
 * it allocates (recently_deleted()), so the figures depend on what was deleted in the hours
 * before: worth knowing when two results differ.
 */
function workFsNote(workDir: string): string {
  const fs = sh('findmnt', ['-no', 'FSTYPE,SOURCE', '-T', workDir]).replace(/\s+/g, ' ');
  const [type, source] = fs.split(/\s+/);
  let journal = '';
  if (type === 'ext4' && source?.startsWith('/dev/')) {
    let jbd: string[] = [];
    try {
      jbd = readdirSync('/proc/fs/jbd2');
    } catch {
      // no jbd2 at all: no journaled file system
    }
    const dev = source.slice('/dev/'.length);
    journal = jbd.some((j) => j.startsWith(`${dev}-`)) ? ', with a journal' : ', no journal (see README.md, "Equal durability")';
  }
  return `${fs} (${workDir})${journal}`;
}

export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return os.loadavg().map((x) => x.toFixed(2)).join(' ');
  }
}
