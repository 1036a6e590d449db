// What is measured: scenarios × corpus scale × tools. Each tool case prepares a fresh target per
// repetition and says where to look for the result.
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import type { Invocation } from './measure.js';
import * as peers from './peers.js';

const run = promisify(execFile);

export type Scenario = 'IMAP→Maildir' | 'IMAP→IMAP' | 'POP3→Maildir' | 'POP3→IMAP' | 'Maildir→IMAP';
export const SCENARIOS: Scenario[] = ['IMAP→Maildir', 'IMAP→IMAP', 'POP3→Maildir', 'POP3→IMAP', 'Maildir→IMAP'];

export interface Fresh {
  inv: Invocation;
  /** Maildir root holding the result (a local dir, or the destination user's Maildir on the server). */
  target: string;
}

export interface ToolCase {
  tool: string;
  reps: number;
  /** A fresh, empty target for repetition `rep`. */
  fresh(rep: number): Promise<Fresh>;
  /** Measure a rerun (no-op) after the last repetition. */
  noop: boolean;
}

export interface Env {
  work: string;
  server: peers.Server;
  /** Creates a destination user on the server and returns its Maildir root. */
  newImapUser(name: string): Promise<string>;
  /** The Maildir the server keeps for a user (the source of Maildir→IMAP, copied per run). */
  maildirOf(user: string): string;
  mailferry(src: string, dst: string, checkpoint: string, root: string): Invocation;
  /** Builds to measure: "mailferry" first, then "mailferry@NAME" variants. */
  builds: Array<{ tool: string; root: string }>;
  installed: Record<string, boolean>;
  slowPeers: boolean;
}

export interface Users {
  imap: string;
  pop: string;
}

const isImap = (s: Scenario): boolean => s.endsWith('IMAP');

export function toolCases(env: Env, scenario: Scenario, scale: number, users: Users, reps: number): ToolCase[] {
  const dir = (tool: string, rep: number): string => path.join(env.work, 'runs', `${scenario.replace('→', '-to-')}-x${scale}-${tool}-${rep}`);
  const fresh = async (d: string): Promise<string> => {
    await rm(d, { recursive: true, force: true });
    return d;
  };
  const { host, imap, pop3 } = env.server;
  const fromPop = scenario.startsWith('POP3');
  const fromMaildir = scenario.startsWith('Maildir');
  const srcUser = fromPop ? users.pop : users.imap;
  /** A private copy of the source user's Maildir (a backup to restore): each run reads its own. */
  const maildirCopy = async (d: string): Promise<string> => {
    const copy = path.join(d, 'src');
    await mkdir(d, { recursive: true });
    await run('cp', ['-a', env.maildirOf(srcUser), copy]);
    await run('sync'); // its writeback is not the timed run's
    return copy;
  };
  const cases: ToolCase[] = [];

  for (const build of env.builds) cases.push({
    tool: build.tool, reps, noop: true,
    fresh: async (rep) => {
      const d = await fresh(dir(build.tool, rep));
      const src = fromMaildir ? `maildir:${await maildirCopy(d)}` : fromPop ? `pop3://${srcUser}@${host}:${pop3}` : `imap://${srcUser}@${host}:${imap}`;
      let target: string;
      let dst: string;
      if (isImap(scenario)) {
        const user = `d-${build.tool.replace('@', '-')}-${fromPop ? 'p' : fromMaildir ? 'm' : 'i'}${scale}-${rep}`;
        target = await env.newImapUser(user);
        dst = `imap://${user}@${host}:${imap}`;
      } else {
        target = path.join(d, 'mail');
        dst = `maildir:${target}`;
      }
      return { inv: env.mailferry(src, dst, path.join(d, 'checkpoint.jsonl'), build.root), target };
    },
  });

  const peer = (tool: string, peerReps: number, make: (d: string, rep: number) => Promise<Fresh>): void => {
    if (env.installed[tool]) cases.push({ tool, reps: peerReps, noop: true, fresh: async (rep) => make(await fresh(dir(tool, rep)), rep) });
  };
  const imapUser = async (tool: string, rep: number): Promise<{ user: string; target: string }> => {
    const user = `d-${tool}-${scale}-${rep}`;
    return { user, target: await env.newImapUser(user) };
  };

  if (scenario === 'IMAP→Maildir') {
    peer('mbsync', reps, async (d) => ({ inv: await peers.mbsyncToMaildir(d, env.server, srcUser), target: path.join(d, 'mail') }));
    if (env.slowPeers && scale === 1) {
      peer('offlineimap', 1, async (d) => ({ inv: await peers.offlineimap(d, env.server, srcUser), target: path.join(d, 'mail') }));
    }
  }
  if (scenario === 'IMAP→IMAP') {
    peer('interimap', reps, async (d, rep) => {
      const u = await imapUser('interimap', rep);
      return { inv: await peers.interimap(d, env.server, srcUser, u.user), target: u.target };
    });
    // mbsync IMAP→IMAP is slow (≈20 s ×1, minutes ×10): one run on ×1 only.
    if (scale === 1) {
      peer('mbsync', 1, async (d, rep) => {
        const u = await imapUser('mbsync', rep);
        return { inv: await peers.mbsyncToImap(d, env.server, srcUser, u.user), target: u.target };
      });
    }
  }
  if (scenario === 'Maildir→IMAP') {
    peer('mbsync', reps, async (d, rep) => {
      const src = await maildirCopy(d);
      const u = await imapUser('mbsync-push', rep);
      return { inv: await peers.mbsyncPush(d, env.server, src, u.user), target: u.target };
    });
  }
  if (scenario === 'POP3→Maildir') {
    peer('mpop', reps, async (d) => ({ inv: await peers.mpop(d, env.server, srcUser), target: path.join(d, 'mail') }));
  }
  return cases;
}
