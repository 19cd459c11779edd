import { describe, expect, it } from 'vitest';
import { reachabilityOf } from '../../../server/domain/reachability.ts';

describe('reachabilityOf (the one access rule, docs/plan-selection.md)', () => {
  it.each([
    ['PLANS', true, ['API_KEY'], false, 'PLANS'],
    ['OPEN', true, ['API_KEY'], false, 'PLANS'],
    ['PLANS', true, [], false, 'CLOSED'],
    ['OPEN', true, [], false, 'OPEN'],
    ['PLANS', true, ['KEYLESS'], false, 'PLANS'],
    // Private: only contracted applications, and a contract needs a plan; a KEYLESS plan admits no one there.
    ['OPEN', true, [], true, 'CLOSED'],
    ['OPEN', true, ['JWT'], true, 'PLANS'],
    ['PLANS', true, ['KEYLESS'], true, 'CLOSED'],
    ['OPEN', true, ['KEYLESS', 'KEYLESS'], true, 'CLOSED'],
    ['PLANS', true, ['KEYLESS', 'OAUTH2'], true, 'PLANS'],
    ['PLANS', false, ['API_KEY'], false, 'NOT_DEPLOYED'],
    ['OPEN', false, [], false, 'NOT_DEPLOYED'],
  ] as const)('a %s API (deployed: %s, serving plans: %j, private: %s) is %s', (accessMode, isDeployed, servingPlanTypes, isPrivate, expected) => {
    expect(reachabilityOf({ accessMode, isDeployed, servingPlanTypes, isPrivate })).toBe(expected);
  });
});
