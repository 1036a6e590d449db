// Aggregates runs into one table, checks the targets, renders bench/RESULTS.md.
import type { MachineNote } from './machine.js';
import { median } from './measure.js';

export interface RunRecord {
  scenario: string;
  scale: number;
  tool: string;
  rep: number;
  /** Messages the run added to the target. */
  msgs: number;
  wall: number;
  rssKB: number;
  user: number;
  sys: number;
  /** Busy CPU seconds of the whole machine during the run (tool + Dovecot + kernel). */
  machineCpu?: number;
  ok: boolean;
  note: string;
  fidelity?: string;
}

export interface Row {
  scenario: string;
  scale: number;
  tool: string;
  runs: number;
  msgs: number;
  wall: number;
  wallMin: number;
  wallMax: number;
  rate: number;
  rssMB: number;
  cpu: number;
  machineCpu: number;
  ok: boolean;
  note: string;
  /** For a peer row: mailferry's messages/s divided by this peer's (same scenario and scale). */
  ratio?: number;
}

export function aggregate(runs: RunRecord[]): Row[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of runs) {
    const k = `${r.scenario}\0${r.scale}\0${r.tool}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const rows: Row[] = [...groups.values()].map((rs) => {
    const walls = rs.map((r) => r.wall);
    const wall = median(walls);
    const msgs = Math.max(...rs.map((r) => r.msgs));
    const notes = rs.map((r) => r.note).filter(Boolean).slice(0, 1);
    const fid = rs.find((r) => r.fidelity)?.fidelity;
    return {
      scenario: rs[0]!.scenario, scale: rs[0]!.scale, tool: rs[0]!.tool, runs: rs.length, msgs, wall,
      wallMin: Math.min(...walls), wallMax: Math.max(...walls),
      rate: msgs > 0 ? msgs / wall : 0,
      rssMB: Math.max(...rs.map((r) => r.rssKB)) / 1024,
      cpu: median(rs.map((r) => r.user + r.sys)),
      machineCpu: median(rs.map((r) => r.machineCpu ?? NaN)),
      ok: rs.every((r) => r.ok),
      note: [...(fid ? [fid] : []), ...notes].join('; '),
    };
  });
  for (const row of rows) {
    if (row.tool === 'mailferry') continue;
    const mf = rows.find((r) => r.tool === 'mailferry' && r.scenario === row.scenario && r.scale === row.scale);
    if (!mf || mf.wall <= 0) continue;
    row.ratio = row.msgs > 0 && mf.msgs > 0 ? mf.rate / row.rate : row.wall / mf.wall;
  }
  return rows;
}

export interface Target {
  what: string;
  goal: string;
  measured: string;
  met: boolean | undefined;
}

const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '–');

export function targets(rows: Row[]): Target[] {
  const out: Target[] = [];
  const find = (scenario: string, scale: number, tool: string) => rows.find((r) => r.scenario === scenario && r.scale === scale && r.tool === tool);
  const ratio = (scenario: string, scale: number, peer: string, goal: number): void => {
    const p = find(scenario, scale, peer);
    const mf = find(scenario, scale, 'mailferry');
    const label = `${scenario} ×${scale}: mailferry msgs/s ÷ ${peer} msgs/s`;
    if (!p || !mf) return void out.push({ what: label, goal: `≥ ${goal}`, measured: 'not run', met: undefined });
    const measured = p.ratio !== undefined ? `${fmt(p.ratio)}× (${fmt(mf.rate, 0)} vs ${fmt(p.rate, 0)})` : '–';
    out.push({ what: label, goal: `≥ ${goal}`, measured: mf.ok ? measured : `${measured}; mailferry run failed verification`, met: mf.ok && (p.ratio ?? 0) >= goal });
  };
  const scales = [...new Set(rows.map((r) => r.scale))].sort((a, b) => a - b);
  for (const s of scales) ratio('IMAP→Maildir', s, 'mbsync', 3);
  for (const s of scales) if (find('IMAP→IMAP', s, 'interimap')) ratio('IMAP→IMAP', s, 'interimap', 2);
  for (const s of scales) if (find('POP3→Maildir', s, 'mpop')) ratio('POP3→Maildir', s, 'mpop', 1.5);
  const big = Math.max(...scales);
  const noop = find('no-op IMAP→Maildir', big, 'mailferry');
  out.push({ what: `no-op rerun, IMAP→Maildir ×${big}: wall`, goal: '< 1.5 s', measured: noop ? `${fmt(noop.wall)} s` : 'not run', met: noop ? noop.ok && noop.wall < 1.5 : undefined });
  const mf = rows.filter((r) => r.tool === 'mailferry');
  const worst = mf.reduce((m, r) => Math.max(m, r.rssMB), 0);
  out.push({ what: 'peak RSS of every mailferry run', goal: '≤ 150 MB', measured: `${fmt(worst, 0)} MB`, met: mf.length ? worst <= 150 : undefined });
  const small = Math.min(...scales);
  if (big > small) {
    for (const scen of ['IMAP→Maildir', 'IMAP→IMAP', 'POP3→Maildir', 'POP3→IMAP', 'Maildir→IMAP']) {
      const a = find(scen, small, 'mailferry');
      const b = find(scen, big, 'mailferry');
      if (!a || !b) continue;
      out.push({ what: `peak RSS flat, ${scen} ×${small} → ×${big}`, goal: `×${big} ≤ 1.15 × ×${small}`, measured: `${fmt(a.rssMB, 0)} → ${fmt(b.rssMB, 0)} MB`, met: b.rssMB <= 1.15 * a.rssMB });
    }
  }
  return out;
}

export function table(rows: Row[]): string {
  const lines = [
    "| scenario | corpus | tool | runs | msgs | median wall s (min–max) | msgs/s | peak RSS MB | CPU s | machine CPU s | verified | mailferry msgs/s ÷ this tool's | fidelity / notes |",
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const rate = r.msgs > 0 ? fmt(r.rate, 0) : '–';
    const ratio = r.ratio === undefined ? '' : r.msgs > 0 ? `${fmt(r.ratio)}×` : `${fmt(r.ratio)}× (wall ratio)`;
    lines.push(`| ${r.scenario} | ×${r.scale} | ${r.tool} | ${r.runs} | ${r.msgs} | ${fmt(r.wall)} (${fmt(r.wallMin)}–${fmt(r.wallMax)}) | ${rate} | ${fmt(r.rssMB, 1)} | ${fmt(r.cpu)} | ${fmt(r.machineCpu)} | ${r.ok ? 'ok' : '**FAILED**'} | ${ratio} | ${r.note.replace(/\|/g, '/')} |`);
  }
  return lines.join('\n');
}

export function targetTable(ts: Target[]): string {
  const lines = ['| target | goal | measured | met |', '|---|---|---|---|'];
  for (const t of ts) lines.push(`| ${t.what} | ${t.goal} | ${t.measured} | ${t.met === undefined ? 'not measured' : t.met ? 'yes' : '**no**'} |`);
  return lines.join('\n');
}

export interface ResultsDoc {
  command: string;
  started: Date;
  seconds: number;
  machine: MachineNote;
  load: { start: string; end: string };
  peers: Record<string, string>;
  corpus: string;
  rows: Row[];
  targets: Target[];
}

export function renderResults(d: ResultsDoc): string {
  const m = d.machine;
  return `# mailferry benchmark results

Produced by \`${d.command}\` on ${d.started.toISOString().replace(/\.\d+Z$/, 'Z')} (${Math.round(d.seconds)} s in all).
How to rerun and what each column means: [README.md](README.md). What the figures and the
profiles say (where the time goes, why targets are missed): docs/ARCHITECTURE.md, "Speed".

Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, ${m.kernel}; Node ${m.node}; Dovecot ${m.dovecot};
work dir on ${m.workFs}; mailferry at ${m.commit}. Load average at start ${d.load.start}, at end ${d.load.end}
(the machine is shared: other processes may run during the benchmark; peers and mailferry alternate, run by run).
Peers: ${Object.entries(d.peers).map(([k, v]) => `${k} (${v})`).join(', ') || 'none'}.
Corpus: ${d.corpus}.

## Targets

${targetTable(d.targets)}

## All runs

${table(d.rows)}
`;
}
