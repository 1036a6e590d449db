// Folders merged by --map share one destination index: a message whose Message-ID a folder copied
// earlier in the run is a duplicate when a later folder brings it into the same destination, and
// a folder copied elsewhere in between does not make the run forget it. Maildir → Maildir.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';

const work = mkdtempSync(join(tmpdir(), 'mf-merge-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const message = (id: string, text: string) => Buffer.from(`From: a@example.org\nMessage-ID: <${id}@example.org>\nSubject: ${text}\n\n${text}\n`);

function folder(root: string, name: string, files: Record<string, Buffer>): void {
  const dir = join(root, name);
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, sub), { recursive: true });
  for (const [file, bytes] of Object.entries(files)) writeFileSync(join(dir, 'cur', `${file}:2,S`), bytes);
}

it('a Message-ID copied by an earlier folder is a duplicate in a later folder merged into the same destination', async () => {
  const src = join(work, 'src');
  // Copied in name order: .A and .C both go to X; .B, in between, goes elsewhere.
  folder(src, '.A', { '1000.a1.h': message('same', 'first copy'), '1001.a2.h': message('a-only', 'a') });
  folder(src, '.B', { '1002.b1.h': message('b-only', 'b') });
  folder(src, '.C', { '1003.c1.h': message('same', 'second copy'), '1004.c2.h': message('c-only', 'c') });
  const dst = join(work, 'dst');
  const report = join(work, 'report.ndjson');
  // The dry run says what the copy then does: C's copy of it is a duplicate, not present.
  const plan = envelope(await runCli(['copy', `maildir:${src}`, `maildir:${dst}`, '--map', 'A=X', '--map', 'C=X', '--checkpoint', join(work, 'cp'), '--dry-run', '--json']));
  expect(plan.result.folders.find((f: { folder: string }) => f.folder === 'C')).toMatchObject({ copy: 1, skip: { duplicate: 1 } });
  const r = await runCli(['copy', `maildir:${src}`, `maildir:${dst}`, '--map', 'A=X', '--map', 'C=X', '--checkpoint', join(work, 'cp'), '--report', report, '--json']);
  expect(envelope(r).status, r.stderr).toBe(0);

  const outcomes = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(outcomes.filter((o) => o.outcome === 'copied')).toHaveLength(4);
  expect(outcomes.filter((o) => o.outcome === 'skipped')).toMatchObject([{ folder: 'C', messageId: '<same@example.org>', reason: 'duplicate' }]);
  const x = readdirSync(join(dst, '.X', 'cur')).map((f) => readFileSync(join(dst, '.X', 'cur', f), 'utf8'));
  expect(x.filter((t) => t.includes('<same@example.org>'))).toEqual([expect.stringContaining('first copy')]);
  expect(x).toHaveLength(3);
  expect(readdirSync(join(dst, '.B', 'cur'))).toHaveLength(1);
});
