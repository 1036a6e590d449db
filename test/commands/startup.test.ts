// Start-up guard that is not a timing: a run loads only the packages it uses. yaml (job files,
// ~25 ms to load) and cli-progress (terminal bars, ~13 ms) are loaded on demand, and so are the
// packages imapflow imports for features mailferry does not use (patches/: ~55 ms), so a cron or
// CI run, and every no-op rerun, does not pay for them. The probe is shown to see a package that
// is loaded (yaml with --config); without the imapflow patch it sees socks, pino, iconv-lite and the rest.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { h, srcUrl, tls } from './helpers.js';

let work: string;
let probe: string;

/** The packages under node_modules that the CLI had loaded when it exited. */
async function loadedPackages(args: string[], name: string, env: Record<string, string> = {}): Promise<{ code: number | null; packages: Set<string> }> {
  const out = join(work, `${name}.modules`);
  const r = await runCli(args, { env: { NODE_OPTIONS: `--import ${probe}`, MF_PROBE_OUT: out, ...env } });
  const packages = new Set<string>();
  for (const p of readFileSync(out, 'utf8').split('\n')) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(p);
    if (m) packages.add(m[1]!);
  }
  return { code: r.code, packages };
}

describe('start-up loads only what the run uses', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'mf-startup-'));
    // Every CommonJS module Node loaded (the packages in question are loaded with require).
    probe = join(work, 'probe.mjs');
    writeFileSync(
      probe,
      `import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => writeFileSync(process.env.MF_PROBE_OUT, Object.keys(cache).join('\\n')));
`,
    );
    const src = join(work, 'src');
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(src, d), { recursive: true });
    writeFileSync(join(src, 'cur', '1.host:2,S'), 'Message-ID: <startup-1@example.org>\nSubject: one\n\nbody\n');
  });

  it('a copy without --config, not on a terminal, loads neither yaml nor cli-progress', async () => {
    const args = ['copy', `maildir:${join(work, 'src')}`, `maildir:${join(work, 'dst')}`, '--checkpoint', join(work, 'cp')];
    const first = await loadedPackages(args, 'first');
    expect(first.code).toBe(0);
    expect(first.packages).toContain('@oclif/core');
    expect(first.packages).not.toContain('yaml');
    expect(first.packages).not.toContain('cli-progress');
    // oclif's check of the Node.js version (bin/run.cjs checks it instead).
    expect(first.packages).not.toContain('semver');
    const again = await loadedPackages([...args, '--json'], 'again');
    expect(again.code).toBe(0);
    expect(again.packages).not.toContain('yaml');
    expect(again.packages).not.toContain('cli-progress');
  });

  it('a Maildir → Maildir copy loads no IMAP client (imapflow, an ES module: seen by a load hook), only its table of folder names', async () => {
    const hook = join(work, 'esm-probe.mjs');
    writeFileSync(
      hook,
      `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`import { appendFileSync } from 'node:fs';
export async function load(url, context, next) { if (url.includes('/node_modules/')) appendFileSync(process.env.MF_PROBE_ESM, url + '\\\\n'); return next(url, context); }\`));
`,
    );
    const out = join(work, 'esm.txt');
    writeFileSync(out, '');
    const r = await runCli(['copy', `maildir:${join(work, 'src')}`, `maildir:${join(work, 'dst-esm')}`, '--checkpoint', join(work, 'cp-esm')], { env: { NODE_OPTIONS: `--import ${hook}`, MF_PROBE_ESM: out } });
    expect(r.code, r.stderr).toBe(0);
    const loaded = readFileSync(out, 'utf8');
    expect(loaded).toContain('/node_modules/p-queue/');
    // Its table of special-use folder names (a Maildir folder's role) is all it may load of it.
    expect(loaded.split('\n').filter((u) => u.includes('/node_modules/imapflow/'))).toEqual(loaded.includes('special-use.js') ? [expect.stringMatching(/\/imapflow\/dist\/esm\/special-use\.js$/)] : []);
  });

  it('with NODE_ENV=development or test in the environment, loads no TypeScript compiler (oclif would register tsx)', async () => {
    for (const env of ['development', 'test']) {
      const args = ['copy', `maildir:${join(work, 'src')}`, `maildir:${join(work, `dst-${env}`)}`, '--checkpoint', join(work, `cp-${env}`)];
      const r = await loadedPackages(args, `env-${env}`, { NODE_ENV: env });
      expect(r.code).toBe(0);
      expect(r.packages).toContain('@oclif/core');
      expect(r.packages, env).not.toContain('tsx');
    }
  });

  it('a run with --config loads yaml', async () => {
    const job = join(work, 'job.yaml');
    writeFileSync(job, `source: maildir:${join(work, 'src')}\ndest: maildir:${join(work, 'dst2')}\ncheckpoint: ${join(work, 'cp2')}\n`);
    const r = await loadedPackages(['copy', '--config', job, '--quiet'], 'config');
    expect(r.code).toBe(0);
    expect(r.packages).toContain('yaml');
    expect(r.packages).not.toContain('cli-progress');
  });

  it('an IMAP copy does not load what imapflow imports for proxies, its own logger or MIME decoding', async () => {
    const args = ['copy', srcUrl('Fixtures'), `maildir:${join(work, 'imap')}`, ...tls, '--checkpoint', join(work, 'cp3'), '--quiet'];
    const r = await loadedPackages(args, 'imap', { MAILFERRY_SOURCE_PASSWORD: h.user.password });
    expect(r.code).toBe(0);
    // Nor iconv-lite, though the harness's folder names are not all ASCII: modified UTF-7 has a codec of its own.
    for (const p of ['socks', 'pino', '@zone-eu/mailsplit', 'libmime', 'libqp', 'libbase64', 'encoding-japanese', 'iconv-lite', 'yaml', 'cli-progress']) {
      expect(r.packages, p).not.toContain(p);
    }
  });
});

describe('an older Node.js', () => {
  it('is refused in one line, exit 3 (with --json, as the one JSON document), before anything else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-old-node-'));
    const fake = join(dir, 'node18.cjs');
    writeFileSync(fake, "Object.defineProperty(process.versions, 'node', { value: '18.19.1' });\n");
    const args = ['copy', `maildir:${join(dir, 'src')}`, `maildir:${join(dir, 'dst')}`, '--checkpoint', join(dir, 'cp')];
    const r = await runCli(args, { env: { NODE_OPTIONS: `--require ${fake}` } });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('mailferry: error: Node.js 18.19.1 is too old: mailferry needs Node.js 20 or later\n');
    const j = await runCli([...args, '--json'], { env: { NODE_OPTIONS: `--require ${fake}` } });
    expect(j.code).toBe(3);
    expect(JSON.parse(j.stdout)).toEqual({ status: 3, error: { code: 'NODE_TOO_OLD', message: 'Node.js 18.19.1 is too old: mailferry needs Node.js 20 or later' }, warnings: [] });
    expect(() => readFileSync(join(dir, 'cp'))).toThrow();
  });
});

describe('start-up reads no code from the user data directory', () => {
  it("oclif's user plugins (a package.json in ~/.local/share/mailferry) are neither loaded nor read", async () => {
    const home = mkdtempSync(join(tmpdir(), 'mf-userplugins-'));
    const data = join(home, 'data', 'mailferry');
    const marker = join(home, 'plugin-was-loaded');
    mkdirSync(join(data, 'node_modules', 'evil'), { recursive: true });
    writeFileSync(join(data, 'package.json'), JSON.stringify({ private: true, oclif: { schema: 1, plugins: [{ name: 'evil', type: 'user', tag: 'latest' }] }, dependencies: { evil: '1.0.0' } }));
    writeFileSync(join(data, 'node_modules', 'evil', 'package.json'), JSON.stringify({ name: 'evil', version: '1.0.0', main: 'index.js', oclif: { commands: './commands', hooks: { init: './index.js' } } }));
    writeFileSync(join(data, 'node_modules', 'evil', 'index.js'), `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x'); module.exports = async () => {};`);
    const r = await runCli(['--version'], { env: { XDG_DATA_HOME: join(home, 'data') } });
    expect(r.code, r.stderr).toBe(0);
    expect(() => readFileSync(marker)).toThrow();
    // A data directory that cannot be read (HOME kept by sudo, say) is not a warning either.
    const locked = await runCli(['--version'], { env: { XDG_DATA_HOME: '/root/nowhere' }, wrap: ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--'] });
    expect(locked.code).toBe(0);
    expect(locked.stderr).toBe('');
  });
});
