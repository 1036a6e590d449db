// A copy into a Maildir has its file thread's worker started by the launcher, ahead of need
// (bin/file-thread-early.cjs → prestart): the first FileThread that needs a worker takes that one,
// and one started below the young generation's cap does not hold the main thread up while it starts
// (src/drivers/maildir/file-thread.ts, spawn). At the cap the main thread still waits for the
// worker's heap, as a worker started at the first message does.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FileThread, prestart, workersStarted } from '../../src/drivers/maildir/file-thread.js';

const { copiesIntoMaildir } = createRequire(import.meta.url)('../../bin/file-thread-early.cjs') as { copiesIntoMaildir: (args: string[]) => boolean };

type Launcher = { mailferryHeapMade?: () => void; mailferryYoungAtCap?: () => boolean };
const launcher = globalThis as Launcher;

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mf-prestart-'));
  mkdirSync(join(dir, 'tmp'));
  mkdirSync(join(dir, 'cur'));
  return dir;
}

describe('a file thread started ahead of need', () => {
  const threads: FileThread[] = [];
  const thread = (): FileThread => {
    const t = new FileThread();
    threads.push(t);
    return t;
  };
  afterEach(() => {
    delete launcher.mailferryHeapMade;
    delete launcher.mailferryYoungAtCap;
  });
  afterAll(async () => {
    for (const t of threads) await t.close();
  });

  it('is the worker the first FileThread uses; the next one starts its own', async () => {
    const before = workersStarted();
    prestart();
    prestart(); // one spare at most
    expect(workersStarted()).toBe(before + 1);
    const dir = folder();
    const first = thread();
    await first.run({ tmp: join(dir, 'tmp', 'a'), final: join(dir, 'cur', 'a:2,'), body: Buffer.from('Subject: a\n\nbody a\n') });
    expect(workersStarted()).toBe(before + 1);
    expect(readFileSync(join(dir, 'cur', 'a:2,'), 'latin1')).toBe('Subject: a\n\nbody a\n');
    const second = thread();
    await second.run({ tmp: join(dir, 'tmp', 'b'), final: join(dir, 'cur', 'b:2,'), body: Buffer.from('Subject: b\n\nbody b\n') });
    expect(workersStarted()).toBe(before + 2);
    expect(readFileSync(join(dir, 'cur', 'b:2,'), 'latin1')).toBe('Subject: b\n\nbody b\n');
  });

  it('below the young generation cap, is started without waiting, and the cap is set again once its heap is made', async () => {
    const made: string[] = [];
    launcher.mailferryYoungAtCap = () => false;
    launcher.mailferryHeapMade = () => made.push('made');
    prestart();
    // Nothing waited: the worker's heap is not made yet when prestart returns.
    expect(made).toEqual([]);
    // Its 'online' event sets the launcher's factor again.
    await expect.poll(() => made.length, { timeout: 10_000 }).toBe(1);
    const dir = folder();
    await thread().run({ tmp: join(dir, 'tmp', 'c'), final: join(dir, 'cur', 'c:2,'), body: Buffer.from('c') });
    expect(readFileSync(join(dir, 'cur', 'c:2,'), 'latin1')).toBe('c');
  });

  it('at the cap, has the main thread wait for its heap before going on, as before', () => {
    const made: string[] = [];
    launcher.mailferryYoungAtCap = () => true;
    launcher.mailferryHeapMade = () => made.push('made');
    prestart();
    expect(made).toEqual(['made']);
  });
});

describe('which command lines start the file thread early', () => {
  it('a copy into a Maildir, not a dry run, not another command or destination', () => {
    expect(copiesIntoMaildir(['copy', 'imap://u@h', 'maildir:/srv/m'])).toBe(true);
    expect(copiesIntoMaildir(['copy', '--source-tls', 'none', 'pop3://u@h:110', '--json', 'Maildir:/srv/m', '-j', '2'])).toBe(true);
    expect(copiesIntoMaildir(['copy', 'maildir:/a', 'maildir:/b'])).toBe(true);
    expect(copiesIntoMaildir(['copy', 'maildir:/a', 'imap://u@h'])).toBe(false);
    expect(copiesIntoMaildir(['copy', 'imap://u@h', 'maildir:/srv/m', '-n'])).toBe(false);
    expect(copiesIntoMaildir(['copy', 'imap://u@h', 'maildir:/srv/m', '--dry-run'])).toBe(false);
    expect(copiesIntoMaildir(['copy', '-c', 'job.yaml'])).toBe(false);
    expect(copiesIntoMaildir(['verify', 'imap://u@h', 'maildir:/srv/m'])).toBe(false);
    expect(copiesIntoMaildir(['folders', 'maildir:/srv/m'])).toBe(false);
    expect(copiesIntoMaildir([])).toBe(false);
  });
});
