// A message's bytes are let go of once the sink has taken them, not held until its put is done.
// A put waits for the store to be durable (a Maildir file's fsync, an APPEND's OK): bytes held
// across that wait outlived two young-generation collections and were freed only by a full one,
// so the garbage outside the heap grew in bursts the C library's allocator then kept.
import { mkdtempSync } from 'node:fs';
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
function holdingSink(lineEndings: 'crlf' | 'lf') {
  const given: WeakRef<Buffer>[] = [];
  const kept: Buffer[] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const sink: Sink = {
    caps: { lineEndings },
    ensureMailbox: async () => 'INBOX',
    async *scan() {},
    writer: async (): Promise<SinkWriter> => ({
      put(_m, b) {
        kept.push(Buffer.from(b));
        given.push(new WeakRef(b));
        return released.then(() => String(kept.length));
      },
      flush: async () => {},
      close: async () => {},
    }),
    close: async () => {},
  };
  return { sink, given, kept, release };
}

const plan: FolderPlan = { source: { path: 'INBOX', segments: ['INBOX'], delimiter: '/' }, name: 'INBOX', destSegments: ['INBOX'] };

describe('the copy engine, while puts are waiting to be durable', () => {
  for (const [what, lineEndings] of [['converted for the sink (CRLF → LF)', 'lf'], ['as the source sent them', 'crlf']] as const) {
    it(`holds none of the bodies handed to the sink (the fetch loop's last one aside), ${what}`, async () => {
      const journal = Journal.open(join(mkdtempSync(join(tmpdir(), 'mf-letgo-')), 'cp'), { header: { job: 'j', source: 's', dest: 'd' } });
      const h = holdingSink(lineEndings);
      const copied = copy({ source, sink: h.sink, plans: [plan], journal, concurrency: 1, putWindow: N, dedupe: 'message-id', retries: 0, log: silentLogger });
      while (h.given.length < N) await nextTask();
      // The weak references were made in tasks before this one: nothing keeps their bodies now but the engine.
      await nextTask();
      gc();
      // Bodies as the source sent them: the last one taken is still the fetch loop's while it
      // waits for room in the window (one per worker); converted ones, none.
      expect(h.given.filter((r) => r.deref() !== undefined).length).toBeLessThanOrEqual(lineEndings === 'lf' ? 0 : 1);
      h.release();
      const result = await copied;
      journal.close();
      expect(result.copied).toBe(N);
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
});
