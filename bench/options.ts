// Command-line options of the benchmark.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.dirname(BENCH_DIR);

export interface BenchOptions {
  /** Repetitions per tool on the ×1 corpus (median reported). */
  reps: number;
  /** Repetitions per tool on the scaled corpus. */
  scaleReps: number;
  /** Copies of the corpus for the large runs; 0 = skip them. */
  scale: number;
  /** Large runs for every scenario, not only IMAP→Maildir (adds many minutes: peers are slow there). */
  scaleAll: boolean;
  /** Run only cases whose "scenario xN tool" matches. */
  only: RegExp;
  peers: boolean;
  /** Also the slow peers (offlineimap3): adds minutes. */
  slowPeers: boolean;
  /** Parent of the work dir (Dovecot + destinations). Must be a real disk: fsync on tmpfs is free. */
  dir: string;
  /**
   * Run on a fresh ext4 made in an image under `dir` (scratch-fs.ts), not on `dir`'s own file
   * system: the default, unless --dir or MF_BENCH_DIR names where to measure.
   */
  image: boolean;
  /** Where RESULTS.md goes ('' = don't write). */
  out: string;
  keep: boolean;
  timeoutSec: number;
  /** Extra arguments for every mailferry copy (experiments), and extra environment. */
  mfArgs: string[];
  mfEnv: Record<string, string>;
  /** Project root whose bin/run.cjs (bin/run.js in builds before it) and dist/ are "mailferry". */
  mfRoot: string;
  /** Other builds measured beside it, as tools "mailferry@NAME" (before/after comparisons). */
  variants: Array<{ name: string; root: string }>;
  argv: string[];
}

const USAGE = `usage: npm run bench -- [--quick] [--reps N] [--scale N] [--scale-reps N] [--scale-all] [--only REGEX]
       [--no-peers] [--slow-peers] [--dir DIR] [--no-image] [--out FILE|''] [--keep] [--timeout SEC]
       [--mf-arg ARG]... [--mf-env K=V]... [--mf-root DIR] [--variant NAME=DIR]...
  --quick        corpus ×1 only, one repetition, no RESULTS.md unless --out is given
  --scale-all    the ×N corpus for every scenario (default: IMAP→Maildir only)
  --only REGEX   e.g. --only 'IMAP→Maildir' or --only 'x10' or --only 'mailferry'
  --dir DIR      measure on DIR's own file system (default: a fresh ext4 image mounted in $TMPDIR)
  --no-image     measure on $TMPDIR's own file system
  --variant NAME=DIR  also measure the build in DIR (a checkout with dist/) as "mailferry@NAME"`;

export function parseOptions(argv: string[]): BenchOptions {
  const o: BenchOptions = {
    reps: 3, scaleReps: 1, scale: 10, scaleAll: false, only: /./, peers: true, slowPeers: false,
    dir: process.env.MF_BENCH_DIR || os.tmpdir(), image: !process.env.MF_BENCH_DIR, out: path.join(BENCH_DIR, 'RESULTS.md'), keep: false,
    timeoutSec: 900, mfArgs: [], mfEnv: {}, mfRoot: ROOT, variants: [], argv,
  };
  let quick = false;
  let outGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    const int = (): number => {
      const v = Number(val());
      if (!Number.isInteger(v) || v < 0) throw new Error(`${a} needs a whole number\n${USAGE}`);
      return v;
    };
    switch (a) {
      case '--quick': quick = true; break;
      case '--reps': o.reps = Math.max(1, int()); break;
      case '--scale': o.scale = int(); break;
      case '--scale-all': o.scaleAll = true; break;
      case '--scale-reps': o.scaleReps = Math.max(1, int()); break;
      case '--only': o.only = new RegExp(val()); break;
      case '--no-peers': o.peers = false; break;
      case '--slow-peers': o.slowPeers = true; break;
      case '--dir': o.dir = path.resolve(val()); o.image = false; break;
      case '--no-image': o.image = false; break;
      case '--out': o.out = val(); outGiven = true; break;
      case '--keep': o.keep = true; break;
      case '--timeout': o.timeoutSec = int(); break;
      case '--mf-arg': o.mfArgs.push(val()); break;
      case '--mf-env': {
        const [k, ...v] = val().split('=');
        o.mfEnv[k!] = v.join('=');
        break;
      }
      case '--mf-root': o.mfRoot = path.resolve(val()); break;
      case '--variant': {
        const [name, ...dir] = val().split('=');
        if (!name || dir.length === 0) throw new Error(`--variant needs NAME=DIR\n${USAGE}`);
        o.variants.push({ name, root: path.resolve(dir.join('=')) });
        break;
      }
      case '-h': case '--help': throw new Error(USAGE);
      default: throw new Error(`unknown option ${a}\n${USAGE}`);
    }
  }
  if (quick) {
    o.scale = 0;
    if (!argv.includes('--reps')) o.reps = 1;
    if (!outGiven) o.out = '';
  }
  if (o.out) o.out = path.resolve(o.out);
  return o;
}
