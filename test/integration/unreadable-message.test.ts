// A message the server cannot read (here: its file made unreadable to Dovecot, which then drops
// the connection with "Internal error" in the middle of a FETCH): that message alone fails, the
// rest of its folder is copied, and the next run copies it once the server can read it again.
// Both places a FETCH can break off: the listing (the header is read from the file) and the
// bodies (the listing was served from Dovecot's cache); the dry run and verify name such a
// message and go on. Real CLI, real Dovecot.
import { chmodSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { CORPUS_GROUPS, seedCorpus } from '../harness/corpus.js';
import { harness } from '../harness/env.js';
import { expectedByFolder, maildirProblems } from '../harness/expected.js';
import { toServerName } from '../harness/folders.js';
import type { ManifestEntry } from '../harness/manifest.js';

const h = harness();
const env = { MAILFERRY_SOURCE_PASSWORD: 'pass' };
const tls = ['--tls-ca', h.certPem];

/** The server's files of a folder, by name (cur and new). */
function messageFiles(user: string, folder: string): string[] {
  const dir = join(h.maildirOf(user), `.${toServerName(folder)}`);
  return ['cur', 'new'].flatMap((d) => readdirSync(join(dir, d)).map((f) => join(dir, d, f))).sort();
}

describe('a message the server cannot read', () => {
  let user: string;
  const seeded = new Map<string, ManifestEntry[]>();
  const url = () => `imap://${user}@${h.host}:${h.ports.imap}`;

  beforeAll(async () => {
    user = (await h.freshUser('unread')).name;
    for (const folder of ['Listed', 'Fetched']) {
      const layout = Object.fromEntries(CORPUS_GROUPS.map((g) => [g, folder]));
      seeded.set(folder, await seedCorpus(h, user, { limitPerGroup: 8, layout }));
    }
  });

  /** Make these files unreadable to the server; the entries they hold, and a function that undoes it. */
  function spoil(folder: string, picks: number[]): { spoiled: ManifestEntry[]; restore: () => void } {
    const files = messageFiles(user, folder).filter((_, i) => picks.includes(i));
    const bytes = files.map((f) => readFileSync(f));
    const spoiled = seeded.get(folder)!.filter((e) => bytes.some((b) => b.equals(e.bytes)));
    expect(spoiled).toHaveLength(picks.length);
    for (const f of files) chmodSync(f, 0);
    return { spoiled, restore: () => files.forEach((f) => chmodSync(f, 0o600)) };
  }

  const copy = async (folder: string, dest: string, cp: string) =>
    envelope(await runCli(['copy', url(), `maildir:${dest}`, ...tls, '--folder', folder, '--checkpoint', cp, '--json'], { env }));

  /** The files readable again, the rerun copies the `n` that failed: the destination holds the folder, each message once. */
  async function rerunCopies(folder: string, dest: string, cp: string, n: number): Promise<void> {
    const again = await copy(folder, dest, cp);
    expect(again.status, JSON.stringify(again.result?.failures)).toBe(0);
    expect(again.result).toMatchObject({ copied: n, failed: 0 });
    expect(maildirProblems(dest, expectedByFolder(seeded.get(folder)!).keep)).toEqual([]);
  }

  it('in the listing: it fails alone (exit 6), the rest is copied; the rerun copies it, once', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-unread-list-'));
    const dest = join(work, 'M');
    const all = seeded.get('Listed')!;
    // The first message of the folder, and one in the middle.
    const { spoiled, restore } = spoil('Listed', [0, 17]);
    let first;
    let plan;
    let check;
    try {
      first = await copy('Listed', dest, join(work, 'cp'));
      // While they stay unreadable: the dry run says they would fail and verify names them (both exit 6).
      plan = envelope(await runCli(['copy', url(), `maildir:${dest}`, ...tls, '--folder', 'Listed', '--checkpoint', join(work, 'cp'), '--dry-run', '--json'], { env }));
      check = envelope(await runCli(['verify', url(), `maildir:${dest}`, ...tls, '--folder', 'Listed', '--json'], { env }));
    } finally {
      restore();
    }
    expect(first.status, JSON.stringify(first.result?.folders ?? first.error)).toBe(6);
    expect(first.result.folders[0]).toMatchObject({ listed: all.length, copied: all.length - 2, failed: 2 });
    expect(first.result.folders[0].error).toBeUndefined();
    expect(first.result.failures).toHaveLength(2);
    for (const f of first.result.failures) {
      expect(f.code).toBe('MESSAGE_FAILED');
      expect(f.error).toMatch(/^the server could not read message \d+: .*Internal error/);
    }
    const rest = all.filter((e) => !spoiled.includes(e));
    expect(maildirProblems(dest, expectedByFolder(rest).keep)).toEqual([]);

    expect(plan.status, JSON.stringify(plan.error)).toBe(6);
    expect(plan.result).toMatchObject({ copy: 0, unreadable: 2 });
    expect(plan.result.folders[0]).toMatchObject({ listed: all.length, unreadable: 2 });
    expect(check.status, JSON.stringify(check.error)).toBe(6);
    expect(check.result).toMatchObject({ ok: false, missing: 0, unreadable: 2, messages: all.length });
    expect(check.result.unreadableList.map((u: { key: string }) => u.key).sort()).toEqual(first.result.failures.map((f: { key: string }) => f.key).sort());
    expect(check.result.verdict).toMatch(/^verify: all 38 readable messages of the source are in the destination; 2 messages of the source could not be read by its server and were not compared$/);

    await rerunCopies('Listed', dest, join(work, 'cp'), 2);
  });

  it('in the body fetch: it fails alone (exit 6), the rest of its batch is copied; the rerun copies it, once', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-unread-body-'));
    const dest = join(work, 'M');
    const all = seeded.get('Fetched')!;
    // A dry run lists the folder: Dovecot caches the headers it served, so the next listing
    // does not open the files and the FETCH breaks off only when the bodies are read.
    expect(envelope(await runCli(['copy', url(), `maildir:${dest}`, ...tls, '--folder', 'Fetched', '--dry-run', '--json'], { env })).status).toBe(0);
    const { spoiled, restore } = spoil('Fetched', [5, 6, 30]);
    let first;
    try {
      first = await copy('Fetched', dest, join(work, 'cp'));
    } finally {
      restore();
    }
    expect(first.status, JSON.stringify(first.result?.folders ?? first.error)).toBe(6);
    expect(first.result.folders[0]).toMatchObject({ listed: all.length, copied: all.length - 3, failed: 3 });
    for (const f of first.result.failures) expect(f.error).toMatch(/^the server could not send message \d+: .*Internal error/);
    expect(first.warnings.join('\n')).toMatch(/fetching message \d+ alone/);
    const rest = all.filter((e) => !spoiled.includes(e));
    expect(maildirProblems(dest, expectedByFolder(rest).keep)).toEqual([]);

    await rerunCopies('Fetched', dest, join(work, 'cp'), 3);
  });

  it('with --retries 0 nothing is asked twice: the folder fails as a whole, and the rerun copies it all', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-unread-r0-'));
    const dest = join(work, 'M');
    const all = seeded.get('Listed')!;
    const { restore } = spoil('Listed', [3]);
    let first;
    try {
      first = envelope(await runCli(['copy', url(), `maildir:${dest}`, ...tls, '--folder', 'Listed', '--checkpoint', join(work, 'cp'), '--retries', '0', '--json'], { env }));
    } finally {
      restore();
    }
    // The folder (listing) or the rest of the batch (bodies: the earlier tests had Dovecot cache
    // the headers) fails at the unreadable message; nothing was asked for alone.
    expect(first.status).toBe(6);
    expect(first.result.copied).toBeLessThan(all.length - 1);
    expect(first.warnings.join('\n')).not.toMatch(/alone/);
    await rerunCopies('Listed', dest, join(work, 'cp'), all.length - first.result.copied);
  });
});
