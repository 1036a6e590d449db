// How many bytes of messages the engine holds whole at once, across its workers. Bodies are most
// of a copy's memory, and a batch was up to 16 MB: four workers copying a folder of 6 MB
// attachments held 180 MB of them (peak RSS 270 MB, where a copy of small messages peaks at
// ~100 MB). Each batch now takes its messages' bytes from a budget shared by the workers before
// it fetches, and gives them back when its puts are done; one larger than the budget goes alone.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/checkpoint/journal.js';
import type { MessageRef, Sink, SinkWriter, Source } from '../../src/drivers/types.js';
import { copy } from '../../src/engine/copy.js';
import type { FolderPlan } from '../../src/engine/plan.js';
import { silentLogger } from '../../src/log.js';

const MB = 1024 * 1024;
const plan: FolderPlan = { source: { path: 'INBOX', segments: ['INBOX'], delimiter: '/' }, name: 'INBOX', destSegments: ['INBOX'] };

/** `sizes.length` messages of these sizes; counts the bytes fetched whose put has not settled yet. */
async function mostHeld(sizes: number[], opts: { wholeBytes?: number; batchMessages: number }): Promise<{ most: number; copied: number }> {
  let held = 0;
  let most = 0;
  const source: Source = {
    caps: { lineEndings: 'crlf', parallelReaders: true },
    listMailboxes: async () => [{ path: 'INBOX', segments: ['INBOX'], delimiter: '/' }],
    status: async () => ({ validity: '1', next: sizes.length + 1, messages: sizes.length }),
    async *list() {
      for (const [i, size] of sizes.entries()) yield { mailbox: 'INBOX', key: String(i + 1), seq: i + 1, size, flags: [], messageId: `<${i + 1}@held.test>` } satisfies MessageRef;
    },
    reader: async () => ({
      async *fetch(_m: string, want: MessageRef[]) {
        for (const ref of want) {
          await new Promise((r) => setTimeout(r, 1));
          held += ref.size;
          most = Math.max(most, held);
          yield { ref, body: Buffer.alloc(ref.size, 0x61) };
        }
      },
      close: async () => {},
    }),
    close: async () => {},
  };
  const sink: Sink = {
    caps: { lineEndings: 'crlf' },
    ensureMailbox: async () => 'INBOX',
    async *scan() {},
    writer: async (): Promise<SinkWriter> => ({
      async put(_m, body) {
        await new Promise((r) => setTimeout(r, 10));
        held -= body.length;
        return 'k';
      },
      flush: async () => {},
      close: async () => {},
    }),
    close: async () => {},
  };
  const journal = Journal.open(join(mkdtempSync(join(tmpdir(), 'mf-held-')), 'cp'), { header: { job: 'j', source: 's', dest: 'd' } });
  const result = await copy({ source, sink, plans: [plan], journal, concurrency: 4, dedupe: 'message-id', retries: 0, log: silentLogger, ...opts });
  journal.close();
  return { most, copied: result.copied };
}

describe('bytes of messages held whole at once', () => {
  it('stay within the budget shared by the workers (16 MB by default)', async () => {
    // 24 messages of 3 MB, two to a batch: four workers would hold 24 MB.
    const { most, copied } = await mostHeld(Array(24).fill(3 * MB), { batchMessages: 2 });
    expect(copied).toBe(24);
    expect(most).toBeLessThanOrEqual(16 * MB);
    expect(most).toBeGreaterThanOrEqual(12 * MB);
  });

  it('a batch larger than the budget goes alone', async () => {
    const { most, copied } = await mostHeld([1 * MB, 1 * MB, 9 * MB, 1 * MB, 1 * MB, 1 * MB], { batchMessages: 1, wholeBytes: 8 * MB });
    expect(copied).toBe(6);
    expect(most).toBe(9 * MB);
  });

  it('small messages are not held back: the workers fetch at once', async () => {
    const { most } = await mostHeld(Array(400).fill(4096), { batchMessages: 50 });
    // More than one worker holds: its window of 16 puts, and the message it waits with.
    expect(most).toBeGreaterThan(17 * 4096);
  });
});
