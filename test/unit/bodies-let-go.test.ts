// A message's bytes are let go of once the sink has taken them, not held until its put is done.
// A put waits for the store to be durable (a Maildir file's fsync, an APPEND's OK): bytes held
// across that wait outlived two young-generation collections and were freed only by a full one,
// so the garbage outside the heap grew in bursts the C library's allocator then kept.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/checkpoint/journal.js';
import type { MessageRef, Sink, SinkWriter, Source } from '../../src/drivers/types.js';
import { MaildirSink } from '../../src/drivers/maildir/sink.js';
import { copy } from '../../src/engine/copy.js';
import type { FolderPlan } from '../../src/engine/plan.js';
import { silentLogger } from '../../src/log.js';
import { crlfToLf } from '../../src/mail/line-endings.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const N = 8;
const nextTask = () => new Promise<void>((r) => setImmediate(r));
const raw = (k: string) => Buffer.from(`Message-ID: <${k}@let-go.test>\r\nSubject: ${k}\r\n\r\nbody ${k}\r\n`);

/** N messages, each body made when it is fetched and not kept by the source. */
const source: Source = {
  caps: { lineEndings: 'crlf', parallelReaders: true },
  listMailboxes: async () => [{ path: 'INBOX', segments: ['INBOX'], delimiter: '/' }],
  status: async () => ({ validity: '1', next: N + 1, messages: N }),
  async *list() {
    for (let i = 1; i <= N; i++) yield { mailbox: 'INBOX', key: String(i), seq: i, size: 60, flags: [], messageId: `<${i}@let-go.test>` } satisfies MessageRef;
  },
  reader: async () => ({
    async *fetch(_m: string, want: MessageRef[]) {
      for (const ref of want) yield { ref, body: raw(ref.key) };
    },
    close: async () => {},
  }),
  close: async () => {},
};

/**
 * A sink that takes a copy of each body at once (as a Maildir's file thread does) and holds every
 * put open until `release`; it keeps a weak reference to each body it was given.
 */
function holdingSink(lineEndings: 'crlf' | 'lf', converts = false) {
  const given: WeakRef<Buffer>[] = [];
  const kept: Buffer[] = [];
  let crlfPuts = 0;
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const take = (b: Buffer) => {
    kept.push(converts ? crlfToLf(b) : Buffer.from(b));
    given.push(new WeakRef(b));
  };
  const sink: Sink = {
    caps: { lineEndings },
    ensureMailbox: async () => 'INBOX',
    async *scan() {},
    writer: async (): Promise<SinkWriter> => ({
      put(_m, b) {
        take(b);
        return released.then(() => String(kept.length));
      },
      // As a Maildir writer's: given CRLF, it converts.
      ...(converts
        ? {
            putCrlf(_m: string, b: Buffer) {
              crlfPuts++;
              take(b);
              const bytes = kept[kept.length - 1]!.length;
              return released.then(() => ({ key: String(kept.length), bytes }));
            },
          }
        : {}),
      flush: async () => {},
      close: async () => {},
    }),
    close: async () => {},
  };
  return { sink, given, kept, release, crlfPuts: () => crlfPuts };
}

const plan: FolderPlan = { source: { path: 'INBOX', segments: ['INBOX'], delimiter: '/' }, name: 'INBOX', destSegments: ['INBOX'] };

describe('the copy engine, while puts are waiting to be durable', () => {
  for (const [what, lineEndings, converts] of [
    ['converted for the sink (CRLF → LF)', 'lf', false],
    ['as the source sent them', 'crlf', false],
    ['as the source sent them, to a sink that converts them (putCrlf)', 'lf', true],
  ] as const) {
    it(`holds none of the bodies handed to the sink (the fetch loop's last one aside), ${what}`, async () => {
      const journal = Journal.open(join(mkdtempSync(join(tmpdir(), 'mf-letgo-')), 'cp'), { header: { job: 'j', source: 's', dest: 'd' } });
      const h = holdingSink(lineEndings, converts);
      const copied = copy({ source, sink: h.sink, plans: [plan], journal, concurrency: 1, putWindow: N, dedupe: 'message-id', retries: 0, log: silentLogger });
      while (h.given.length < N) await nextTask();
      // The weak references were made in tasks before this one: nothing keeps their bodies now but the engine.
      await nextTask();
      gc();
      // Bodies as the source sent them: the last one taken is still the fetch loop's while it
      // waits for room in the window (one per worker); converted ones, none.
      expect(h.given.filter((r) => r.deref() !== undefined).length).toBeLessThanOrEqual(lineEndings === 'lf' && !converts ? 0 : 1);
      h.release();
      const result = await copied;
      journal.close();
      expect(result.copied).toBe(N);
      // The bytes stored are counted as the sink stored them (LF), whoever converted them.
      expect(result.bytes).toBe(h.kept.reduce((n, b) => n + b.length, 0));
      // A sink that converts is given the bodies as they came, not converted first.
      expect(h.crlfPuts()).toBe(converts ? N : 0);
      expect(h.kept.map((b) => b.toString('latin1'))).toEqual(Array.from({ length: N }, (_, i) => (lineEndings === 'lf' ? raw(String(i + 1)).toString('latin1').replace(/\r\n/g, '\n') : raw(String(i + 1)).toString('latin1'))));
    });
  }
});

describe("a Maildir writer's put", () => {
  it('holds the body only until the file thread has taken it, not until its file is fsynced', async () => {
    const sink = await MaildirSink.open(join(mkdtempSync(join(tmpdir(), 'mf-letgo-')), 'dest'));
    const w = await sink.writer();
    // The folder made and the file thread started by a first message.
    await w.put('INBOX', Buffer.from('Message-ID: <first@y>\n\nfirst\n'), { flags: [] });
    const pending: Buffer[] = [Buffer.from('Message-ID: <x@y>\n\n' + 'b'.repeat(5000) + '\n')];
    const given = new WeakRef(pending[0]!);
    await nextTask();
    // In one task: the put is started, its body given up by the caller, and the microtasks that
    // copy it into the file thread's ring run; the file thread's answer (the file fsynced) comes as
    // a message, in a later task, so the put is still waiting when the collection runs.
    const hand = () => w.put('INBOX', pending.pop()!, { flags: [] });
    const put = hand();
    let answered = false;
    void put.then(() => (answered = true));
    for (let i = 0; i < 20; i++) await null;
    gc();
    expect(answered).toBe(false);
    expect(given.deref()).toBeUndefined();
    expect(await put).toMatch(/,S=5020$/);
    await w.close();
    await sink.close();
  });

  it('holds a CRLF body for putCrlf only until the file thread has taken it, and names the file by its size in LF', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'mf-letgo-')), 'dest');
    const sink = await MaildirSink.open(root);
    const w = await sink.writer();
    await w.putCrlf!('INBOX', Buffer.from('Message-ID: <first@y>\r\n\r\nfirst\r\n'), { flags: [] });
    const pending: Buffer[] = [Buffer.from('Message-ID: <x@y>\r\n\r\n' + 'b'.repeat(5000) + '\r\n')];
    const given = new WeakRef(pending[0]!);
    await nextTask();
    const hand = () => w.putCrlf!('INBOX', pending.pop()!, { flags: [] });
    const put = hand();
    let answered = false;
    void put.then(() => (answered = true));
    for (let i = 0; i < 20; i++) await null;
    gc();
    expect(answered).toBe(false);
    expect(given.deref()).toBeUndefined();
    const { key, bytes } = await put;
    expect(bytes).toBe(5020);
    expect(key).toMatch(/,S=5020$/);
    const file = readdirSync(join(root, 'cur')).find((n) => n.startsWith(key + ':2,'))!;
    expect(readFileSync(join(root, 'cur', file), 'latin1')).toBe('Message-ID: <x@y>\n\n' + 'b'.repeat(5000) + '\n');
    await w.close();
    await sink.close();
  });
});
