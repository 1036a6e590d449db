// How many puts the engine keeps in flight into a sink that gains from many in all (a Maildir,
// SinkCaps.putsInFlight): the same from one worker as from four. A POP3 source's readers take
// turns on its one session, so one worker fetches at a time: it had a quarter of what IMAP had.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/checkpoint/journal.js';
import type { MessageRef, Sink, SinkCaps, SinkWriter, Source, SourceCaps } from '../../src/drivers/types.js';
import { copy } from '../../src/engine/copy.js';
import type { FolderPlan } from '../../src/engine/plan.js';
import { silentLogger } from '../../src/log.js';

const N = 200;
const nextTask = () => new Promise<void>((r) => setImmediate(r));

function sourceWith(caps: Partial<SourceCaps>): Source {
  return {
    caps: { lineEndings: 'crlf', parallelReaders: true, ...caps },
    listMailboxes: async () => [{ path: 'INBOX', segments: ['INBOX'], delimiter: '/' }],
    status: async () => ({ validity: '1', next: N + 1, messages: N }),
    async *list() {
      for (let i = 1; i <= N; i++) yield { mailbox: 'INBOX', key: String(i), seq: i, size: 60, flags: [], messageId: `<${i}@window.test>` } satisfies MessageRef;
    },
    reader: async () => ({
      async *fetch(_m: string, want: MessageRef[]) {
        for (const ref of want) yield { ref, body: Buffer.from(`Message-ID: ${ref.messageId}\r\n\r\nbody\r\n`) };
      },
      close: async () => {},
    }),
    close: async () => {},
  };
}

/** The most puts in flight at once, every put held until the copy has stopped taking more. */
async function mostInFlight(source: Source, sinkCaps: Partial<SinkCaps>, concurrency: number, batchMessages = 250): Promise<number> {
  let open = 0;
  let most = 0;
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const sink: Sink = {
    caps: { lineEndings: 'crlf', ...sinkCaps },
    ensureMailbox: async () => 'INBOX',
    async *scan() {},
    writer: async (): Promise<SinkWriter> => ({
      put() {
        most = Math.max(most, ++open);
        return released.then(() => (open--, 'k'));
      },
      flush: async () => {},
      close: async () => {},
    }),
    close: async () => {},
  };
  const plan: FolderPlan = { source: { path: 'INBOX', segments: ['INBOX'], delimiter: '/' }, name: 'INBOX', destSegments: ['INBOX'] };
  const journal = Journal.open(join(mkdtempSync(join(tmpdir(), 'mf-window-')), 'cp'), { header: { job: 'j', source: 's', dest: 'd' } });
  const copied = copy({ source, sink, plans: [plan], journal, concurrency, batchMessages, dedupe: 'message-id', retries: 0, log: silentLogger });
  // Until no put has come for a while: every worker is waiting for room in its window.
  for (let quiet = 0, seen = -1; quiet < 20; quiet = most === seen ? quiet + 1 : 0, seen = most) await nextTask();
  release();
  const result = await copied;
  journal.close();
  expect(result.copied).toBe(N);
  return most;
}

describe('puts in flight into a sink that gains from 64 in all', () => {
  it('four workers: 16 each', async () => {
    // Four batches of 50, one per worker.
    expect(await mostInFlight(sourceWith({}), { putsInFlight: 64 }, 4, 50)).toBe(64);
  });

  it('one worker (-j 1): 64', async () => {
    expect(await mostInFlight(sourceWith({}), { putsInFlight: 64 }, 1)).toBe(64);
  });

  it('a source whose readers take turns on one session (POP3): 64 from the one fetching', async () => {
    // One batch of 200: the worker fetching it is the only one.
    expect(await mostInFlight(sourceWith({ oneSession: true }), { putsInFlight: 64 }, 4)).toBe(64);
  });

  it("a sink's own window stands when it is larger (an IMAP destination's 128 per worker)", async () => {
    expect(await mostInFlight(sourceWith({ oneSession: true }), { putWindow: 128 }, 4)).toBe(128);
  });

  it('a sink that says neither: 16 per worker', async () => {
    expect(await mostInFlight(sourceWith({}), {}, 1)).toBe(16);
  });
});
