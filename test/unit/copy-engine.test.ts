// The copy engine against in-memory drivers (the Source/Sink contracts, no protocol): how it keeps
// its books when a put fails with the connection while the fetch of the batch goes on.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/checkpoint/journal.js';
import type { FetchedMessage, MessageRef, Sink, SinkWriter, Source, StoredMessage } from '../../src/drivers/types.js';
import { copy } from '../../src/engine/copy.js';
import type { FolderPlan } from '../../src/engine/plan.js';
import { MailferryError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const body = (k: string) => Buffer.from(`Message-ID: <${k}@engine.test>\r\nSubject: ${k}\r\n\r\nbody ${k}\r\n`);

/** n messages in INBOX, each with a Message-ID; `fetch` answers a reader's FETCH of `want`. */
function sourceOf(n: number, fetch: (want: MessageRef[]) => AsyncIterable<FetchedMessage>, ready?: () => Promise<void>): Source {
  const refs: MessageRef[] = Array.from({ length: n }, (_, i) => ({ mailbox: 'INBOX', key: String(i + 1), seq: i + 1, size: 60, flags: [], messageId: `<${i + 1}@engine.test>` }));
  return {
    caps: { lineEndings: 'crlf', parallelReaders: true },
    listMailboxes: async () => [{ path: 'INBOX', segments: ['INBOX'], delimiter: '/' }],
    status: async () => ({ validity: '1', next: n + 1, messages: n }),
    async *list() {
      yield* refs;
    },
    reader: async () => ({ fetch: (_m: string, want: MessageRef[]) => fetch(want), ready, close: async () => {} }),
    close: async () => {},
  };
}

function memorySource(n: number, fetchDelayMs: number): Source {
  return sourceOf(n, async function* (want) {
    for (const ref of want) {
      await sleep(fetchDelayMs);
      yield { ref, body: body(ref.key) };
    }
  });
}

/** A sink whose puts of the keys in `failOnce` fail once with the connection (after storing, when `stored`). */
function memorySink(failOnce: Set<string>, storedAnyway: boolean) {
  const held: Buffer[] = [];
  const sink: Sink = {
    caps: { lineEndings: 'crlf' },
    ensureMailbox: async () => 'INBOX',
    async *scan(): AsyncIterable<StoredMessage> {
      for (const [i, b] of held.entries()) yield { key: String(i), messageId: /<[^>]+>/.exec(b.toString())![0], readFull: async () => b };
    },
    writer: async (): Promise<SinkWriter> => ({
      async put(_m, b) {
        const k = /<(\d+)@/.exec(b.toString())![1]!;
        await sleep(1);
        if (failOnce.delete(k)) {
          if (storedAnyway) held.push(b);
          throw new MailferryError('NETWORK', 'connection lost during APPEND', { scope: 'mailbox', retryable: true });
        }
        held.push(b);
        return String(held.length);
      },
      flush: async () => {},
      close: async () => {},
    }),
    close: async () => {},
  };
  return { sink, held };
}

const plan: FolderPlan = { source: { path: 'INBOX', segments: ['INBOX'], delimiter: '/' }, name: 'INBOX', destSegments: ['INBOX'] };

async function run(failOnce: string[], storedAnyway: boolean, signal?: AbortSignal) {
  const dir = mkdtempSync(join(tmpdir(), 'mf-engine-'));
  const journal = Journal.open(join(dir, 'cp'), { header: { job: 'j', source: 's', dest: 'd' } });
  const { sink, held } = memorySink(new Set(failOnce), storedAnyway);
  const result = await copy({ source: memorySource(6, 5), sink, plans: [plan], journal, concurrency: 1, dedupe: 'message-id', retries: 3, backoffMs: 1, log: silentLogger, signal });
  journal.close();
  return { result, held: held.map((b) => /<(\d+)@/.exec(b.toString())![1]).sort() };
}

describe('a put that fails with the connection while the batch is still being fetched', () => {
  it('is retried (it did not land): every message copied once, nothing failed', async () => {
    const { result, held } = await run(['1', '3'], false);
    expect(result.failed).toBe(0);
    expect(result.copied).toBe(6);
    expect(held).toEqual(['1', '2', '3', '4', '5', '6']);
  });

  it('is found in the destination (it landed unconfirmed): skipped as present, not sent twice', async () => {
    const { result, held } = await run(['2'], true);
    expect(result.failed).toBe(0);
    expect(result.copied + result.skipped).toBe(6);
    expect(result.skipped).toBe(1);
    expect(held).toEqual(['1', '2', '3', '4', '5', '6']);
  });
});

describe('a stop asked for before the copy starts (Ctrl-C or --max-runtime while logging in)', () => {
  it('copies nothing and says it was interrupted', async () => {
    const { result, held } = await run([], false, AbortSignal.abort());
    expect(result.interrupted).toBe(true);
    expect(result.copied).toBe(0);
    expect(held).toEqual([]);
  });
});

/** A source whose FETCH breaks off (a lost connection) at any message in `bad`, after sending those before it. */
function breakingSource(n: number, bad: Set<string>, alone?: MailferryError): { source: Source; fetches: () => number; asked: string[][] } {
  const asked: string[][] = [];
  const source = sourceOf(n, async function* (want) {
    asked.push(want.map((r) => r.key));
    for (const ref of want) {
      if (bad.has(ref.key) && alone && want.length === 1) throw alone;
      if (bad.has(ref.key)) throw new MailferryError('NETWORK', 'connection lost: FETCH failed: Internal error occurred', { scope: 'mailbox' });
      yield { ref, body: body(ref.key) };
    }
  });
  return { source, fetches: () => asked.length, asked };
}

describe('a FETCH the server breaks off at a message it cannot read', () => {
  const runWith = async (n: number, bad: string[], retries = 3, alone?: MailferryError) => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-engine-'));
    const journal = Journal.open(join(dir, 'cp'), { header: { job: 'j', source: 's', dest: 'd' } });
    const { sink, held } = memorySink(new Set(), false);
    const { source, fetches, asked } = breakingSource(n, new Set(bad), alone);
    const result = await copy({ source, sink, plans: [plan], journal, concurrency: 1, dedupe: 'message-id', retries, backoffMs: 1, log: silentLogger });
    journal.close();
    return { result, asked, fetches: fetches(), held: held.map((b) => /<(\d+)@/.exec(b.toString())![1]).sort((a, b) => Number(a) - Number(b)) };
  };

  it('fails that message alone, after asking for it alone twice; the rest of the batch is copied in one FETCH each time', async () => {
    const { result, fetches, held } = await runWith(12, ['3', '7']);
    expect(held).toEqual(['1', '2', '4', '5', '6', '8', '9', '10', '11', '12']);
    expect(result.failed).toBe(2);
    expect(result.failures.map((f) => [f.key, f.code])).toEqual([['3', 'MESSAGE_FAILED'], ['7', 'MESSAGE_FAILED']]);
    expect(result.failures[0].error).toMatch(/^the server could not send message 3: connection lost/);
    // 1..2 then a break; 3 alone twice; 4..6 then a break; 7 alone twice; 8..12.
    expect(fetches).toBe(7);
  });

  it('a server that breaks off every FETCH: ten messages fail alone, then the rest of the batch fails without more asking', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => String(i + 1));
    const { result, fetches, held } = await runWith(40, keys);
    expect(held).toEqual([]);
    expect(result.failed).toBe(40);
    expect(result.failures.filter((f) => f.code === 'MESSAGE_FAILED')).toHaveLength(10);
    // Each: the batch's FETCH breaks off at it, then it is asked for alone twice.
    expect(fetches).toBe(10 * 3);
  });

  it('one that, asked for alone, is refused as itself (too large) fails with that reason and is not asked for again', async () => {
    const tooLarge = new MailferryError('MESSAGE_TOO_LARGE', 'literal of 9 GB', { scope: 'message', retryable: false });
    const { result, asked, held } = await runWith(6, ['2'], 3, tooLarge);
    expect(held).toEqual(['1', '3', '4', '5', '6']);
    expect(result.failures.map((f) => [f.key, f.code])).toEqual([['2', 'MESSAGE_TOO_LARGE']]);
    expect(asked).toEqual([['1', '2', '3', '4', '5', '6'], ['2'], ['3', '4', '5', '6']]);
  });

  it('a server that cannot be reached again is a connection failure, retried with back-off: no message is blamed for it', async () => {
    const asked: string[][] = [];
    // Like POP3's one session: a reader connects again when its connection broke, in ready(), or
    // else at the start of its next fetch. After the first FETCH breaks off, two connects are refused.
    let broken = false;
    let refusals = 2;
    const connect = async () => {
      if (!broken) return;
      if (refusals-- > 0) throw new MailferryError('NETWORK', 'connection refused', { scope: 'mailbox' });
      broken = false;
    };
    const source = sourceOf(
      6,
      async function* (want) {
        await connect();
        asked.push(want.map((r) => r.key));
        for (const ref of want) {
          if (asked.length === 1 && ref.key === '3') {
            broken = true;
            throw new MailferryError('NETWORK', 'connection lost', { scope: 'mailbox' });
          }
          yield { ref, body: body(ref.key) };
        }
      },
      connect,
    );
    const dir = mkdtempSync(join(tmpdir(), 'mf-engine-'));
    const journal = Journal.open(join(dir, 'cp'), { header: { job: 'j', source: 's', dest: 'd' } });
    const { sink, held } = memorySink(new Set(), false);
    const result = await copy({ source, sink, plans: [plan], journal, concurrency: 1, dedupe: 'message-id', retries: 3, backoffMs: 1, log: silentLogger });
    journal.close();
    expect(result.failures).toEqual([]);
    expect(held.length).toBe(6);
    // Message 3 alone once the server answers again, then the rest: never failed for the outage.
    expect(asked).toEqual([['1', '2', '3', '4', '5', '6'], ['3'], ['4', '5', '6']]);
  });

  it('with --retries 0 nothing is asked twice: the batch fails from the message on', async () => {
    const { result, fetches, held } = await runWith(12, ['3'], 0);
    expect(held).toEqual(['1', '2']);
    expect(result.failed).toBe(10);
    expect(fetches).toBe(1);
  });
});

describe('a duplicate of a message stored by this run', () => {
  it('is recorded only once the message it duplicates is durable (after its batch flushed): a crash before that must not leave the duplicate done and the first one not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-engine-'));
    const cp = join(dir, 'cp');
    const journal = Journal.open(cp, { header: { job: 'j', source: 's', dest: 'd' } });
    // Two messages with one Message-ID, each in a batch of its own, two workers: the second is
    // listed once the first is stored, while the first's batch is still flushing (a Maildir's
    // directory fsync).
    const same = Buffer.from('Message-ID: <same@engine.test>\r\nSubject: twice\r\n\r\nbody\r\n');
    const refs: MessageRef[] = [1, 2].map((i) => ({ mailbox: 'INBOX', key: String(i), seq: i, size: same.length, flags: [], messageId: '<same@engine.test>' }));
    const source: Source = {
      ...sourceOf(2, async function* () {}),
      async *list() {
        yield refs[0]!;
        await sleep(50);
        yield refs[1]!;
      },
      reader: async () => ({
        async *fetch(_m: string, want: MessageRef[]) {
          for (const ref of want) yield { ref, body: same };
        },
        close: async () => {},
      }),
    };
    let stored = 0;
    const seenAtFlush: string[] = [];
    const sink: Sink = {
      caps: { lineEndings: 'crlf' },
      ensureMailbox: async () => 'INBOX',
      async *scan(): AsyncIterable<StoredMessage> {},
      writer: async (): Promise<SinkWriter> => {
        let dirty = false;
        return {
          async put() {
            dirty = true;
            return String(++stored);
          },
          async flush() {
            if (!dirty) return;
            dirty = false;
            await sleep(200);
            // What a crash at the end of this flush would leave on disk.
            seenAtFlush.push(readFileSync(cp, 'utf8'));
          },
          close: async () => {},
        };
      },
      close: async () => {},
    };
    const result = await copy({ source, sink, plans: [plan], journal, concurrency: 2, batchMessages: 1, dedupe: 'message-id', retries: 0, backoffMs: 1, log: silentLogger });
    journal.close();
    expect(result).toMatchObject({ copied: 1, skipped: 1, failed: 0 });
    expect(seenAtFlush).toHaveLength(1);
    expect(seenAtFlush[0]).not.toContain('"why":"duplicate"');
    const lines = readFileSync(cp, 'utf8').split('\n');
    const copiedAt = lines.findIndex((l) => l.includes('"t":"c"'));
    const dupAt = lines.findIndex((l) => l.includes('"why":"duplicate"'));
    expect(copiedAt).toBeGreaterThan(0);
    expect(dupAt).toBeGreaterThan(copiedAt);
  });
});
