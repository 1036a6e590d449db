// --config job files through the real CLI: YAML and JSON, paths relative to the file, flags
// overriding the file, and every kind of mistake named with its key and line (exit 3).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { expectOneLineError, h, seeded, srcUrl } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mf-job-'));
const env = { MAILFERRY_SOURCE_PASSWORD: undefined, XDG_STATE_HOME: join(work, 'state') };
writeFileSync(join(work, 'pw'), h.user.password + '\n', { mode: 0o600 });

function job(name: string, text: string): string {
  const p = join(work, name);
  writeFileSync(p, text);
  return p;
}

const good = (extra = '') => `# nightly backup of the test user
source: ${srcUrl()}
dest: maildir:${join(work, 'md')}
folder:
  - Fixtures
tls-ca: ${h.certPem}
source-password-file: pw        # relative to this file
checkpoint: state/fixtures.journal
concurrency: 2
${extra}`;

describe('job files', () => {
  it('a YAML job runs copy from any working directory; paths are relative to the file', async () => {
    const p = job('nightly.yaml', good());
    const r = await runCli(['copy', '--config', p, '--json'], { env, cwd: '/' });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBeGreaterThan(0);
    expect(out.result.checkpoint).toBe(join(work, 'state', 'fixtures.journal'));
    expect(existsSync(join(work, 'md', '.Fixtures', 'cur'))).toBe(true);
  });

  it('flags override the file; verify reads the same job file', async () => {
    const p = job('override.yaml', good('max-size: 1K\n'));
    const r = await runCli(['copy', '--config', p, '--folder', 'Junk/Old', '--max-size', '2K', '--dry-run', '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.folders.map((f: any) => f.folder)).toEqual(['Junk/Old']);
    const tooBig = seeded('Junk/Old').filter((m) => m.bytes.length > 4096).length;
    expect(out.result.folders[0].skip['larger than --max-size']).toBeGreaterThanOrEqual(tooBig);
    const v = await runCli(['verify', '--config', job('verify.yaml', good('dedupe: none\nrestart: false\n')), '--json'], { env });
    expect(envelope(v), v.stderr).toMatchObject({ status: 0, result: { ok: true } });
  });

  it('a relative maildir: is beside the job file; a log file in a new directory is made', async () => {
    const p = job('relative.yaml', `source: ${srcUrl()}\ndest: maildir:backups/rel\nfolder: Fixtures\ntls-ca: ${h.certPem}\nsource-password-file: pw\ncheckpoint: state/rel.journal\nlog-file: logs/new/rel.log\n`);
    const r = await runCli(['copy', '--config', p, '--json'], { env, cwd: '/' });
    expect(envelope(r).status, r.stderr).toBe(0);
    expect(existsSync(join(work, 'backups', 'rel', '.Fixtures', 'cur'))).toBe(true);
    expect(existsSync(join(work, 'logs', 'new', 'rel.log'))).toBe(true);
  });

  it('~/ in a job file\'s paths is the home directory, as in its maildir: (it made a directory named ~ beside the file)', async () => {
    const home = join(work, 'home');
    const p = job('tilde.yaml', `source: ${srcUrl()}\ndest: maildir:~/tilde-md\nfolder: Fixtures\ntls-ca: ${h.certPem}\nsource-password-file: ~/../pw\ncheckpoint: ~/state/tilde.journal\nlog-file: ~/logs/tilde.log\nreport: ~/tilde.ndjson\n`);
    const r = await runCli(['copy', '--config', p, '--json'], { env: { ...env, HOME: home }, cwd: '/' });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.checkpoint).toBe(join(home, 'state', 'tilde.journal'));
    expect(existsSync(join(home, 'tilde-md', '.Fixtures', 'cur'))).toBe(true);
    expect(existsSync(join(home, 'logs', 'tilde.log'))).toBe(true);
    expect(existsSync(join(home, 'tilde.ndjson'))).toBe(true);
    expect(existsSync(join(work, '~'))).toBe(false);
  });

  it('~/ after = in a path flag (--checkpoint=~/x: no shell expands it) is the home directory, as in a job file: it made a directory named ~ here', async () => {
    const home = join(work, 'home-flags');
    const here = join(work, 'cwd-flags');
    mkdirSync(home, { recursive: true });
    mkdirSync(here, { recursive: true });
    writeFileSync(join(home, 'pw'), h.user.password + '\n', { mode: 0o600 });
    writeFileSync(join(home, 'ca.pem'), readFileSync(h.certPem));
    writeFileSync(join(home, 'flags.yaml'), `source: ${srcUrl()}\ndest: maildir:~/flags-md\nfolder: Fixtures\n`);
    writeFileSync(join(home, 'shown.yaml'), `source: ${srcUrl()}\ndest: maildir:~/flags-md\ncheckpoint: ~/state/flags.journal\n`);
    const e = { ...env, HOME: home };
    const r = await runCli(['copy', '--config=~/flags.yaml', '--checkpoint=~/state/flags.journal', '--report=~/flags.ndjson', '--log-file=~/logs/flags.log', '--source-password-file=~/pw', '--tls-ca=~/ca.pem', '--json'], { env: e, cwd: here });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.checkpoint).toBe(join(home, 'state', 'flags.journal'));
    for (const f of ['flags.ndjson', 'logs/flags.log', 'flags-md/.Fixtures/cur']) expect(existsSync(join(home, f)), f).toBe(true);
    const v = await runCli(['verify', '--config=~/flags.yaml', '--checkpoint=~/state/flags.journal', '--log-file=~/logs/verify.log', '--source-password-file=~/pw', '--tls-ca=~/ca.pem', '--json'], { env: e, cwd: here });
    expect(envelope(v), v.stderr).toMatchObject({ status: 0, result: { ok: true } });
    const shown = await runCli(['checkpoint', 'show', '--config=~/shown.yaml', '--log-file=~/logs/show.log', '--json'], { env: e, cwd: here });
    expect(envelope(shown), shown.stderr).toMatchObject({ status: 0, result: { path: join(home, 'state', 'flags.journal') } });
    expect(existsSync(join(home, 'logs', 'show.log'))).toBe(true);
    // checkpoint show/reset's PATH too, quoted (a script's CP='~/…'): as the shell would have it.
    const quoted = await runCli(['checkpoint', 'show', '~/state/flags.journal', '--json'], { env: e, cwd: here });
    expect(envelope(quoted), quoted.stderr).toMatchObject({ status: 0, result: { path: join(home, 'state', 'flags.journal') } });
    expect(readdirSync(here)).toEqual([]);
  });

  it('dry-run left in a job file is said even under --quiet, and the plan is in the log file', async () => {
    const p = job('dry.yaml', good('dry-run: true\nlog-file: logs/dry.log\n'));
    const r = await runCli(['copy', '--config', p, '--quiet'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(`mailferry: warn: ${p} sets dry-run: nothing is copied\n`);
    const log = readFileSync(join(work, 'logs', 'dry.log'), 'utf8');
    expect(log).toMatch(/"msg":"dry run: .* \(nothing is written\)"/);
    expect(log).toMatch(/"msg":"would copy \d+ messages/);
  });

  it("what a file turns on, the command line turns off (--no-dry-run, --no-quiet; --verbose over the file's quiet)", async () => {
    const p = job('on.yaml', good('dry-run: true\nquiet: true\n'));
    const r = await runCli(['copy', '--config', p, '--no-dry-run', '--verbose'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^copied \d+ messages/m);
    expect(r.stderr).toMatch(/mailferry copy started/); // --verbose, over the file's quiet
    const q = await runCli(['copy', '--config', p, '--no-quiet', '--no-dry-run'], { env });
    expect(q.stdout).toMatch(/^copied 0 messages/m);
    // --no-verbose turns off only itself: the file's quiet stands. --no-quiet --verbose is no conflict.
    const still = await runCli(['copy', '--config', p, '--no-verbose', '--no-dry-run'], { env });
    expect([still.code, still.stdout, still.stderr]).toEqual([0, '', '']);
    const loud = await runCli(['copy', '--config', p, '--no-quiet', '--verbose', '--no-dry-run'], { env });
    expect(loud.code, loud.stderr).toBe(0);
    expect(loud.stderr).toMatch(/mailferry copy started/);
    // Both on in one file: said, as on the command line.
    expectOneLineError(await runCli(['copy', '--config', job('both.yaml', good('quiet: true\nverbose: true\n'))], { env }), 3, /'quiet' and 'verbose' cannot both be on/);
  });

  it('a JSON job file works too', async () => {
    const p = job('job.json', JSON.stringify({ source: srcUrl(), dest: `maildir:${join(work, 'md')}`, folder: ['Fixtures'], 'tls-ca': h.certPem, 'source-password-file': 'pw', 'dry-run': true }, null, 2));
    const r = await runCli(['copy', '--config', p, '--json'], { env });
    expect(envelope(r), r.stderr).toMatchObject({ status: 0, result: { dryRun: true } });
  });

  const bad: Array<[string, string, RegExp]> = [
    ['unknown key (a typo), with a suggestion', 'source: imap://a@b\nconcurency: 4\n', /line 2: unknown key 'concurency' \(did you mean 'concurrency'\?\)/],
    ['wrong type: a word for a number', 'concurrency: many\n', /line 1: 'concurrency' must be a whole number/],
    ['out of range', '\n\nconcurrency: 0\n', /line 3: 'concurrency' must be at least 1/],
    ['wrong type: a number for a boolean', 'insecure: 1\n', /line 1: 'insecure' must be true or false/],
    ['an option not offered', 'dedupe: md5\n', /line 1: 'dedupe' must be one of message-id, content, none/],
    ['a list where a string belongs', 'dest:\n  - maildir:/a\n  - maildir:/b\n', /line 2: 'dest' must be a string/],
    ['malformed YAML', 'source: imap://a@b\nfolder: [INBOX\n', /line \d+: .*a job file is YAML or JSON/],
    ['a password in the file', 'source: imap://a@b\npassword: hunter2\n', /line 2: key 'password' is not allowed \(a job file holds no passwords/],
    ['a list at the top', '- source: imap://a@b\n', /line 1: the job file must be a mapping/],
    ['a duplicate key', 'source: imap://a@b\nsource: imap://c@d\n', /line 2: Map keys must be unique/],
    ['malformed JSON', '{"source": "imap://a@b",\n "dest": }\n', /line 2: /],
    ['a date that is not one', 'source: imap://a@b\nsince: 2024-13-45\n', /line 2: 'since': '2024-13-45' is not a date \(write it as YYYY-MM-DD/],
    ['a size that is not one', 'max-size: 10 apples\n', /line 1: 'max-size': '10 apples' is not a size/],
    ['a duration that is not one', 'max-runtime: 2 hours\n', /line 1: 'max-runtime': '2 hours' is not a duration/],
    ['a folder map without =', 'map:\n  - Sent Items\n', /line 2: 'map': 'Sent Items' is not SOURCE=DEST/],
  ];
  for (const [name, text, re] of bad) {
    it(`refuses ${name} (exit 3, key and line named)`, async () => {
      const p = job(`bad-${name.replace(/\W+/g, '-')}.yaml`, text);
      const r = await runCli(['copy', '--config', p], { env });
      expectOneLineError(r, 3, re);
      expect(r.stderr).toContain(p);
      if (name.startsWith('a password')) expect(r.stderr).not.toContain('hunter2');
    });
  }

  it('refuses a value that is not UTF-8 (a job file saved in latin1: the path would be another), naming its key and line; a latin1 comment is no matter', async () => {
    const p = join(work, 'latin1.yaml');
    writeFileSync(p, Buffer.from(`# J\xf6rg's backup\nsource: ${srcUrl()}\ndest: maildir:${join(work, 'j\xe4b')}\n`, 'latin1'));
    const r = await runCli(['copy', '--config', p], { env });
    expectOneLineError(r, 3, /line 3: 'dest' is not valid UTF-8 \(maildir:.*j\?b\)/);
    expect(existsSync(join(work, 'j\uFFFDb'))).toBe(false);
  });

  it('verify checks copy-only keys too (a typo is still an error)', async () => {
    const r = await runCli(['verify', '--config', job('verify-typo.yaml', good('restrat: true\n'))], { env });
    expectOneLineError(r, 3, /line 10: unknown key 'restrat' \(did you mean 'restart'\?\)/);
  });

  it("checkpoint show/reset -c JOB take the job's checkpoint as copy resolves it: the file's checkpoint:, else the default path", async () => {
    // With checkpoint: in the file (relative to it), from another working directory.
    const named = job('cp-named.yaml', good());
    expect(envelope(await runCli(['copy', '-c', named, '--json'], { env, cwd: '/' })).status).toBe(0);
    const shown = await runCli(['checkpoint', 'show', '-c', named, '--json'], { env, cwd: '/' });
    expect(envelope(shown), shown.stderr).toMatchObject({ status: 0, result: { path: join(work, 'state', 'fixtures.journal'), source: srcUrl() } });
    expect(envelope(shown).result.done).toBeGreaterThan(0);
    // Without it: the default path under the state directory, the one copy printed.
    const plain = job('cp-default.yaml', good().replace(/^checkpoint: .*\n/m, ''));
    const copied = envelope(await runCli(['copy', '--config', plain, '--json'], { env }));
    expect(copied.status).toBe(0);
    expect(copied.result.checkpoint).toMatch(new RegExp(`^${join(work, 'state', 'mailferry')}/[0-9a-f]{16}\\.journal$`));
    const human = await runCli(['checkpoint', 'show', '--config', plain], { env });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(copied.result.checkpoint);
    // reset -c deletes that one, and says so; the next show says there is none (exit 3).
    const reset = await runCli(['checkpoint', 'reset', '-c', plain, '--json'], { env });
    expect(envelope(reset), reset.stderr).toMatchObject({ status: 0, result: { path: copied.result.checkpoint, removed: true } });
    expect(existsSync(copied.result.checkpoint)).toBe(false);
    expectOneLineError(await runCli(['checkpoint', 'show', '-c', plain], { env }), 3, /no checkpoint at .*\.journal/);
    // A PATH and a job file both: which one was meant cannot be told (usage, nothing deleted).
    expectOneLineError(await runCli(['checkpoint', 'reset', join(work, 'state', 'fixtures.journal'), '-c', named], { env }), 2, /give the checkpoint's PATH or --config FILE, not both/);
    expect(existsSync(join(work, 'state', 'fixtures.journal'))).toBe(true);
    // The job file is checked as copy checks it: a typo is named with its line.
    expectOneLineError(await runCli(['checkpoint', 'show', '-c', job('cp-typo.yaml', good('restrat: true\n'))], { env }), 3, /line 10: unknown key 'restrat' \(did you mean 'restart'\?\)/);
    // A job file without source and dest names no default checkpoint.
    expectOneLineError(await runCli(['checkpoint', 'show', '-c', job('cp-none.yaml', 'folder: INBOX\n')], { env }), 3, /cp-none\.yaml names no checkpoint: it has no 'checkpoint:', nor 'source:' and 'dest:'/);
  });

  it('a missing job file and missing SOURCE are one line each', async () => {
    expectOneLineError(await runCli(['copy', '--config', join(work, 'nope.yaml')], { env }), 3, /cannot read job file .*nope\.yaml: ENOENT/);
    expectOneLineError(await runCli(['copy', '--config', job('nodest.yaml', `source: ${srcUrl()}\n`)], { env }), 2, /missing DEST \(give it as an argument or as 'dest:'/);
  });
});
