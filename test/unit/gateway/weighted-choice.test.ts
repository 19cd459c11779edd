import { describe, expect, it } from 'vitest';
import { pickWeighted, RoundRobin } from '../../../server/gateway/weighted-choice.ts';

describe('weighted choice', () => {
  const clusters = [{ name: 'a', weight: 80 }, { name: 'b', weight: 20 }, { name: 'c', weight: 0 }];

  it('maps the random draw onto cumulative weights', () => {
    expect(pickWeighted(clusters, 100, () => 0)?.name).toBe('a');
    expect(pickWeighted(clusters, 100, () => 0.799)?.name).toBe('a');
    expect(pickWeighted(clusters, 100, () => 0.8)?.name).toBe('b');
    expect(pickWeighted(clusters, 100, () => 0.9999)?.name).toBe('b');
  });

  it('never picks a zero weight', () => {
    const draws = Array.from({ length: 100 }, (_, i) => pickWeighted(clusters, 100, () => i / 100)?.name);
    expect(draws.filter((name) => name === 'c')).toEqual([]);
    expect(draws.filter((name) => name === 'a')).toHaveLength(80);
  });

  it('spreads endpoints by weight with smooth round robin', () => {
    const rr = new RoundRobin([{ id: 'a', weight: 5 }, { id: 'b', weight: 1 }, { id: 'c', weight: 1 }]);
    expect(Array.from({ length: 7 }, () => rr.next()?.id).join('')).toBe('aabacaa');
  });

  it('rotates equal weights in turn', () => {
    const rr = new RoundRobin([{ id: 'x', weight: 1 }, { id: 'y', weight: 1 }]);
    expect(Array.from({ length: 4 }, () => rr.next()?.id)).toEqual(['x', 'y', 'x', 'y']);
  });
});
