import { describe, expect, it } from 'vitest';
import {
  canonicalPolicyName,
  findPolicyDefinition,
  paramsJsonSchema,
  policyDefinitions,
  resolvePolicyVersion,
  validatePolicyAttachment,
} from '../../../server/domain/policy-registry.ts';
import { parseDurationMs } from '../../../server/domain/durations.ts';
import { durationWholeMs } from '../../../server/xds/translate/durations.ts';

const at = 'spec.policies[0]';

function issuesOf(name: unknown, params: unknown, version: unknown = 'v1') {
  return validatePolicyAttachment({ name, version, params }, at, 'api');
}

describe('policy registry', () => {
  it('holds the catalogue of the design brief with its aliases, only kinds with a module', () => {
    expect(policyDefinitions.map((d) => d.name)).toEqual([
      'api-key', 'jwt', 'set-headers', 'throttle', 'subscription-validation',
      'basic-auth', 'oauth2',
    ]);
    expect(canonicalPolicyName('api-key-auth')).toBe('api-key');
    expect(canonicalPolicyName('jwt-auth')).toBe('jwt');
    expect(canonicalPolicyName('basic-ratelimit')).toBe('throttle');
    expect(canonicalPolicyName('set-headers')).toBe('set-headers');
    expect(findPolicyDefinition('nope')).toBeUndefined();
    for (const def of policyDefinitions) expect(def.majorVersion).toBe('v1');
  });

  it('publishes a JSON Schema per definition when asked', () => {
    const schema = paramsJsonSchema(findPolicyDefinition('api-key')!);
    expect(schema).toMatchObject({ type: 'object', required: ['key'], additionalProperties: false });
    for (const def of policyDefinitions) expect(() => JSON.stringify(paramsJsonSchema(def))).not.toThrow();
  });

  it('accepts the seed set-headers attachment', () => {
    expect(
      issuesOf('set-headers', {
        request: { headers: [{ name: 'x-wso2-apip-gateway-version', value: 'v1.0.0' }] },
        response: { headers: [{ name: 'x-environment', value: 'development' }] },
      }),
    ).toEqual([]);
  });

  it('accepts an alias with compatible params when the name is a v0.9 name', () => {
    expect(issuesOf('basic-ratelimit', { limits: [{ requests: 5, duration: '1m' }] })).toEqual([]);
    expect(issuesOf('api-key-auth', { key: 'X-API-Key', in: 'header' })).toEqual([]);
  });

  it('reports an unknown policy name at .name when the name is not registered', () => {
    expect(issuesOf('add-headerz', {})).toEqual([{ path: `${at}.name`, message: expect.stringContaining("Unknown policy 'add-headerz'") }]);
  });

  it('reports a missing name; a missing version is no problem (it resolves to the installed major)', () => {
    const issues = validatePolicyAttachment({ name: undefined, version: '' }, at, 'api');
    expect(issues.map((i) => i.path)).toEqual([`${at}.name`]);
    expect(issuesOf('api-key', { key: 'X-API-Key' }, undefined as unknown as string)).toEqual([]);
    expect(resolvePolicyVersion('api-key-auth', undefined)).toBe('v1');
    expect(resolvePolicyVersion('api-key-auth', '  ')).toBe('v1');
    expect(resolvePolicyVersion('api-key-auth', 'v1')).toBe('v1');
  });

  it("rejects a full semantic version in the reference's words when the version is v1.0.0", () => {
    expect(issuesOf('api-key', { key: 'X-API-Key' }, 'v1.0.0')).toEqual([
      { path: `${at}.version`, message: "policy 'api-key' version must be major-only (e.g., v1); full semantic version (e.g., v1.0.0) is not allowed" },
    ]);
  });

  it('rejects a version that is not a major version when it is free text', () => {
    expect(issuesOf('api-key', { key: 'k' }, 'latest')).toEqual([
      { path: `${at}.version`, message: "invalid version format 'latest' for policy 'api-key'; expected major-only version (e.g., v1)" },
    ]);
  });

  it('rejects a major version the registry does not have when it is v2', () => {
    expect(issuesOf('jwt', { jwksUrl: 'https://idp.example/jwks.json' }, 'v2')).toEqual([
      { path: `${at}.version`, message: "policy 'jwt' major version 'v2' not found in loaded policy definitions" },
    ]);
  });

  it('reports params.key when api-key has no key', () => {
    expect(issuesOf('api-key', {})).toEqual([{ path: `${at}.params.key`, message: 'is required' }]);
    expect(issuesOf('api-key', undefined)).toEqual([{ path: `${at}.params.key`, message: 'is required' }]);
  });

  it('reports params.in when api-key reads from a cookie', () => {
    expect(issuesOf('api-key', { key: 'k', in: 'cookie' })).toEqual([{ path: `${at}.params.in`, message: 'must be header or query' }]);
  });

  it('reports each unknown parameter at its own path when params have typos', () => {
    expect(issuesOf('api-key', { key: 'k', valuePrefx: 'Bearer ' })).toEqual([
      { path: `${at}.params.valuePrefx`, message: 'is not a parameter of api-key' },
    ]);
  });

  it('reports params that are not an object', () => {
    expect(issuesOf('api-key', [1])).toEqual([{ path: `${at}.params`, message: 'Params must be an object' }]);
  });

  it('reports nested set-headers paths when a header name is invalid', () => {
    expect(issuesOf('set-headers', { request: { headers: [{ name: 'bad name', value: 'x' }] } })).toEqual([
      { path: `${at}.params.request.headers[0].name`, message: 'must be a valid header name' },
    ]);
    expect(issuesOf('set-headers', {})).toEqual([{ path: `${at}.params`, message: 'must set request or response headers' }]);
  });

  it('reports throttle limits that are out of range', () => {
    expect(issuesOf('throttle', { limits: [{ requests: 0, duration: '500ms' }] })).toEqual([
      { path: `${at}.params.limits[0].requests`, message: 'must be at least 1' },
      { path: `${at}.params.limits[0].duration`, message: expect.stringContaining('must be a duration') },
    ]);
    expect(issuesOf('throttle', {})).toEqual([{ path: `${at}.params.limits`, message: 'must list at least one limit or set planQuota' }]);
    expect(issuesOf('throttle', { planQuota: true })).toEqual([]);
  });

  it('rejects the none algorithm and non-http JWKS URLs for jwt', () => {
    const issues = issuesOf('jwt', { algorithms: ['none'], jwksUrl: 'ftp://keys' });
    expect(issues.map((i) => i.path)).toEqual([`${at}.params.jwksUrl`, `${at}.params.algorithms[0]`]);
  });

  it('refuses names no data plane serves (cors, respond, host-rewrite) at .name', () => {
    for (const name of ['cors', 'respond', 'host-rewrite']) {
      expect(issuesOf(name, {})).toEqual([{ path: `${at}.name`, message: expect.stringContaining(`Unknown policy '${name}'`) }]);
    }
  });

  it('refuses a kind where it cannot be attached, and any execution condition', () => {
    const planIssues = (name: string, params: unknown) => validatePolicyAttachment({ name, version: 'v1', params }, 'policies[0]', 'plan');
    expect(planIssues('api-key', { in: 'header', key: 'x-key' })).toEqual([{ path: 'policies[0].name', message: expect.stringContaining('cannot be attached to a plan') }]);
    expect(planIssues('throttle', { planQuota: true })).toEqual([]);
    expect(validatePolicyAttachment({ name: 'throttle', version: 'v1', executionCondition: 'request.method == "GET"', params: { planQuota: true } }, at, 'operation'))
      .toEqual([{ path: `${at}.executionCondition`, message: expect.stringContaining('not supported') }]);
    expect(validatePolicyAttachment({ name: 'throttle', version: 'v1', executionCondition: '', params: { planQuota: true } }, at, 'operation')).toEqual([]);
  });

  it('checks the remaining catalogue entries', () => {
    expect(issuesOf('oauth2', {}).map((i) => i.path)).toEqual([`${at}.params.authorizationServerId`]);
    expect(issuesOf('basic-auth', { realm: 'apis' }).map((i) => i.path)).toEqual([`${at}.params.users`]);
    expect(issuesOf('basic-auth', { realm: 'apis', users: [{ username: 'alice', password: 'wonderland' }] })).toEqual([]);
    expect(issuesOf('subscription-validation', {})).toEqual([]);
  });

  it('parses Go-style durations exactly; what is written into a configuration is rounded to whole ms', () => {
    expect(parseDurationMs('1h30m')).toBe(5_400_000);
    expect(parseDurationMs('500ms')).toBe(500);
    expect(parseDurationMs('1.5us')).toBeCloseTo(0.0015);
    expect(durationWholeMs('1.5us')).toBe(0);
    expect(durationWholeMs('2.6ms')).toBe(3);
    expect(parseDurationMs('5')).toBeNull();
    expect(durationWholeMs('5')).toBeNull();
  });

  it('bounds header names in params at 128 characters, as plan security does', () => {
    const name = (n: number) => `x-${'a'.repeat(n - 2)}`;
    expect(issuesOf('subscription-validation', { header: name(128) })).toEqual([]);
    expect(issuesOf('subscription-validation', { header: name(129) }).map((i) => i.path)).toEqual([`${at}.params.header`]);
    expect(issuesOf('api-key', { key: name(129) }).map((i) => i.path)).toEqual([`${at}.params.key`]);
    expect(issuesOf('set-headers', { request: { headers: [{ name: name(129), value: 'v' }] } }).map((i) => i.path)).toEqual([`${at}.params.request.headers[0].name`]);
  });
});
