import { describe, expect, it } from 'vitest';
import { hasIdPrefix, newId } from '../../../server/domain/ids.ts';

describe('newId', () => {
  it('sorts ids in creation order even within one millisecond', () => {
    const ids = Array.from({ length: 1000 }, () => newId('apiKey', 1_700_000_000_000));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('sorts ids of later milliseconds after earlier ones', () => {
    const early = newId('plan', 1_700_000_000_000);
    const late = newId('plan', 1_700_000_000_001);
    expect(early < late).toBe(true);
  });

  it('prefixes the id with its kind', () => {
    expect(newId('subscription')).toMatch(/^sub_[0-9a-z]{26}$/);
    expect(hasIdPrefix('subscription', newId('subscription'))).toBe(true);
    expect(hasIdPrefix('apiKey', newId('subscription'))).toBe(false);
  });
});
