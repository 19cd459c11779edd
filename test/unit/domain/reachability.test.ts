import { describe, expect, it } from 'vitest';
import { reachabilityOf } from '../../../server/domain/reachability.ts';

describe('reachabilityOf (the one access rule, docs/plan-selection.md)', () => {
  it.each([
    ['PLANS', true, true, false, 'PLANS'],
    ['OPEN', true, true, false, 'PLANS'],
    ['PLANS', true, false, false, 'CLOSED'],
    ['OPEN', true, false, false, 'OPEN'],
    // Private: only contracted applications, and a contract needs a plan.
    ['OPEN', true, false, true, 'CLOSED'],
    ['OPEN', true, true, true, 'PLANS'],
    ['PLANS', false, true, false, 'NOT_DEPLOYED'],
    ['OPEN', false, false, false, 'NOT_DEPLOYED'],
  ] as const)('a %s API (deployed: %s, serving plan: %s, private: %s) is %s', (accessMode, isDeployed, hasServingPlan, isPrivate, expected) => {
    expect(reachabilityOf({ accessMode, isDeployed, hasServingPlan, isPrivate })).toBe(expected);
  });
});
