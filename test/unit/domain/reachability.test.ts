import { describe, expect, it } from 'vitest';
import { reachabilityOf } from '../../../server/domain/reachability.ts';

describe('reachabilityOf (the one access rule, docs/plan-selection.md)', () => {
  it.each([
    ['PLANS', true, true, 'PLANS'],
    ['OPEN', true, true, 'PLANS'],
    ['PLANS', true, false, 'CLOSED'],
    ['OPEN', true, false, 'OPEN'],
    ['PLANS', false, true, 'NOT_DEPLOYED'],
    ['OPEN', false, false, 'NOT_DEPLOYED'],
  ] as const)('a %s API (deployed: %s, serving plan: %s) is %s', (accessMode, isDeployed, hasServingPlan, expected) => {
    expect(reachabilityOf({ accessMode, isDeployed, hasServingPlan })).toBe(expected);
  });
});
