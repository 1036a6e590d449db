import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../src/engine/byte-budget.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('ByteBudget', () => {
  it('lets asks in while they fit, in the order asked; one larger than the budget goes alone', async () => {
    const b = new ByteBudget(10);
    const got: string[] = [];
    const give = new Map<string, () => void>();
    const ask = (name: string, n: number) => void b.take(n).then((g) => (got.push(name), give.set(name, g)));
    ask('a', 4);
    ask('b', 6);
    ask('big', 25);
    ask('c', 1); // fits, but waits its turn behind 'big'
    await tick();
    expect(got).toEqual(['a', 'b']);
    expect(b.held).toBe(10);
    give.get('a')!();
    await tick();
    expect(got).toEqual(['a', 'b']);
    give.get('b')!();
    give.get('b')!(); // given back once only
    await tick();
    expect(got).toEqual(['a', 'b', 'big']);
    expect(b.held).toBe(25);
    give.get('big')!();
    await tick();
    expect(got).toEqual(['a', 'b', 'big', 'c']);
    expect(b.held).toBe(1);
  });
});
