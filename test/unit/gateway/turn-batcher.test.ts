import { describe, expect, it } from 'vitest';
import { TurnBatcher } from '../../../server/gateway/turn-batcher.ts';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('TurnBatcher', () => {
  it('runs everything added in one event-loop turn together at its end, in arrival order', async () => {
    const batches: number[][] = [];
    const batcher = new TurnBatcher<number>((batch) => batches.push(batch));
    batcher.add(1);
    batcher.add(2);
    expect(batches).toEqual([]);
    await nextTurn();
    batcher.add(3);
    await nextTurn();
    expect(batches).toEqual([[1, 2], [3]]);
  });

  it('runs what is pending at once on runNow, and nothing twice', async () => {
    const batches: string[][] = [];
    const batcher = new TurnBatcher<string>((batch) => batches.push(batch));
    batcher.add('a');
    batcher.runNow();
    expect(batches).toEqual([['a']]);
    await nextTurn();
    expect(batches).toEqual([['a']]);
  });
});
