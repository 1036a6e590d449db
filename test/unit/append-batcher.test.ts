// APPEND group commit: puts issued together go out together, per folder, within the limits.
import { describe, expect, it } from 'vitest';
import { AppendBatcher, LANE_RETIRED, type Pending } from '../../src/drivers/imap/append-batcher.js';
import { expandUidSet } from '../../src/drivers/imap/multiappend.js';

describe('AppendBatcher', () => {
  it('groups puts issued together by folder, within the count and byte limits', async () => {
    const sent: string[][] = [];
    const b = new AppendBatcher<string>(
      async (mailbox, batch: Pending<string>[]) => {
        sent.push(batch.map((p) => `${mailbox}:${p.item}`));
        batch.forEach((p) => p.resolve(`k-${p.item}`));
      },
      { messages: 3, bytes: 100 },
    );
    const keys = await Promise.all([
      b.put('A', 'a1', 10), b.put('A', 'a2', 10), b.put('A', 'a3', 10), b.put('A', 'a4', 10),
      b.put('B', 'b1', 60), b.put('B', 'b2', 60), b.put('A', 'a5', 10),
    ]);
    expect(keys).toEqual(['k-a1', 'k-a2', 'k-a3', 'k-a4', 'k-b1', 'k-b2', 'k-a5']);
    expect(sent).toEqual([['A:a1', 'A:a2', 'A:a3'], ['A:a4'], ['B:b1'], ['B:b2'], ['A:a5']]);
  });

  it('puts arriving while a batch is on the wire form the next batch; a throwing sender rejects its batch', async () => {
    const sizes: number[] = [];
    let first = true;
    const b = new AppendBatcher<number>(async (_m, batch) => {
      sizes.push(batch.length);
      if (first) {
        first = false;
        await new Promise((r) => setTimeout(r, 20));
        throw new Error('link down');
      }
      batch.forEach((p) => p.resolve(String(p.item)));
    });
    const p1 = b.put('A', 1, 1);
    await new Promise((r) => setImmediate(r));
    const later = [2, 3, 4, 5].map((i) => b.put('A', i, 1));
    await expect(p1).rejects.toThrow('link down');
    expect(await Promise.all(later)).toEqual(['2', '3', '4', '5']);
    expect(sizes).toEqual([1, 4]);
  });
});

describe('AppendBatcher with lanes (connections of one writer)', () => {
  const tick = () => new Promise((r) => setImmediate(r));
  /** A sender whose batches stay on the wire until released, recording which lane took each. */
  const wire = () => {
    const sent: Array<{ lane: number; items: number[]; release: () => void }> = [];
    const send = (_m: string, batch: Pending<number>[], lane: number) =>
      new Promise<void>((resolve) =>
        sent.push({ lane, items: batch.map((p) => p.item), release: () => (batch.forEach((p) => p.resolve(`${lane}:${p.item}`)), resolve()) }),
      );
    return { sent, send };
  };

  it('sends the next batch on an idle lane while the first is on the wire, and back on the first lane when it is free', async () => {
    const w = wire();
    const b = new AppendBatcher<number>(w.send, undefined, 2);
    const p1 = b.put('A', 1, 1);
    await tick();
    const p2 = [2, 3].map((i) => b.put('A', i, 1));
    await tick();
    expect(w.sent.map((s) => [s.lane, s.items])).toEqual([[0, [1]], [1, [2, 3]]]);
    const p3 = b.put('A', 4, 1);
    await tick();
    expect(w.sent).toHaveLength(2); // both lanes busy: it waits for one
    w.sent[0]!.release();
    expect(await p1).toBe('0:1');
    await tick();
    expect(w.sent.map((s) => [s.lane, s.items])).toEqual([[0, [1]], [1, [2, 3]], [0, [4]]]);
    w.sent[1]!.release();
    w.sent[2]!.release();
    expect(await Promise.all([...p2, p3])).toEqual(['1:2', '1:3', '0:4']);
  });

  it('a lane that cannot connect is given up: its batch goes out on the first lane, whole and in order, and nothing again on it', async () => {
    const w = wire();
    const lanes: number[] = [];
    const b = new AppendBatcher<number>(async (m, batch, lane) => {
      lanes.push(lane);
      if (lane === 1) return LANE_RETIRED;
      return w.send(m, batch, lane);
    }, undefined, 2);
    const first = b.put('A', 1, 1);
    await tick();
    const rest = [2, 3, 4].map((i) => b.put('A', i, 1));
    await tick();
    expect(lanes).toEqual([0, 1]); // lane 0 busy: the batch was offered to lane 1, which gave up
    expect(b.laneCount).toBe(1);
    w.sent[0]!.release();
    await first;
    await tick();
    expect(w.sent.map((s) => [s.lane, s.items])).toEqual([[0, [1]], [0, [2, 3, 4]]]);
    w.sent[1]!.release();
    expect(await Promise.all(rest)).toEqual(['0:2', '0:3', '0:4']);
    const last = b.put('A', 5, 1);
    await tick();
    w.sent[2]!.release();
    expect(await last).toBe('0:5');
    expect(lanes).toEqual([0, 1, 0, 0]);
  });

  it('retireExtraLanes: resolves once the other lanes have answered their batches, then only the first lane is used', async () => {
    const w = wire();
    const b = new AppendBatcher<number>(w.send, undefined, 2);
    const p1 = b.put('A', 1, 1);
    await tick();
    const p2 = b.put('A', 2, 1);
    await tick();
    let retired = false;
    const r = b.retireExtraLanes().then(() => (retired = true));
    w.sent[0]!.release();
    await p1;
    await tick();
    expect(retired).toBe(false); // lane 1's batch is still on the wire
    w.sent[1]!.release();
    await r;
    expect(await p2).toBe('1:2');
    const p3 = b.put('A', 3, 1);
    const p4 = b.put('A', 4, 1);
    await tick();
    expect(w.sent.slice(2).map((s) => [s.lane, s.items])).toEqual([[0, [3, 4]]]);
    w.sent[2]!.release();
    expect(await Promise.all([p3, p4])).toEqual(['0:3', '0:4']);
    expect(b.laneCount).toBe(1);
  });
  it('with openLane: a further lane is opened only when batches wait with every open lane busy, and no batch waits for its login', async () => {
    const w = wire();
    const opens: Array<{ lane: number; done: (ok: boolean) => void }> = [];
    const b = new AppendBatcher<number>(w.send, undefined, 2, (lane) => new Promise<boolean>((done) => opens.push({ lane, done })));
    const p1 = b.put('A', 1, 1);
    await tick();
    expect(opens).toHaveLength(0); // lane 0 was idle: nothing waited
    const p2 = b.put('A', 2, 1);
    await tick();
    expect(opens.map((o) => o.lane)).toEqual([1]); // a batch waits, lane 0 busy: lane 1 is opened
    // Lane 0 frees before lane 1 is open: the waiting batch goes out on lane 0.
    w.sent[0]!.release();
    expect(await p1).toBe('0:1');
    await tick();
    expect(w.sent.map((s) => [s.lane, s.items])).toEqual([[0, [1]], [0, [2]]]);
    opens[0]!.done(true);
    const p3 = b.put('A', 3, 1);
    await tick();
    expect(w.sent.map((s) => [s.lane, s.items])).toEqual([[0, [1]], [0, [2]], [1, [3]]]);
    w.sent[1]!.release();
    w.sent[2]!.release();
    expect(await Promise.all([p2, p3])).toEqual(['0:2', '1:3']);
    expect(opens).toHaveLength(1);
    expect(b.laneCount).toBe(2);
  });

  it('with openLane: a lane that cannot be opened is given up, and its would-be batches go out on lane 0', async () => {
    const w = wire();
    const b = new AppendBatcher<number>(w.send, undefined, 2, async () => false);
    const p1 = b.put('A', 1, 1);
    await tick();
    const p2 = b.put('A', 2, 1);
    await tick();
    await tick();
    expect(b.laneCount).toBe(1);
    w.sent[0]!.release();
    await p1;
    await tick();
    w.sent[1]!.release();
    expect(await p2).toBe('0:2');
    expect(w.sent.map((s) => s.lane)).toEqual([0, 0]);
  });
});

describe('expandUidSet (APPENDUID of a MULTIAPPEND)', () => {
  it('expands ranges and lists in order, refuses junk and oversized sets', () => {
    expect(expandUidSet('5:7,9', 10)).toEqual([5, 6, 7, 9]);
    expect(expandUidSet('12', 1)).toEqual([12]);
    expect(expandUidSet('1:3', 2)).toBeUndefined();
    expect(expandUidSet('1:x', 5)).toBeUndefined();
    expect(expandUidSet('', 5)).toBeUndefined();
  });
});
