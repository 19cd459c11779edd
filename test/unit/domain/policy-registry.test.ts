import { describe, expect, it } from 'vitest';
import {
  attachmentChainIssues,
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
  it('holds the catalogue of the design brief with its aliases: the kinds with a module, then the route actions', () => {
    expect(policyDefinitions.map((d) => d.name)).toEqual([
      'api-key', 'jwt', 'set-headers', 'throttle', 'advanced-ratelimit', 'subscription-validation',
      'basic-auth', 'oauth2', 'cors', 'respond', 'redirect', 'host-rewrite', 'request-rewrite',
    ]);
    expect(canonicalPolicyName('api-key-auth')).toBe('api-key');
    expect(canonicalPolicyName('jwt-auth')).toBe('jwt');
    expect(canonicalPolicyName('basic-ratelimit')).toBe('throttle');
    expect(canonicalPolicyName('set-headers')).toBe('set-headers');
    expect(findPolicyDefinition('nope')).toBeUndefined();
    // The reference's redirect policy is major version v0.
    for (const def of policyDefinitions) expect(def.majorVersion).toBe(def.name === 'redirect' ? 'v0' : 'v1');
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

  it('checks host-rewrite params: a host, optionally with a port', () => {
    expect(issuesOf('host-rewrite', { host: 'backend.example.com:8080' })).toEqual([]);
    expect(issuesOf('host-rewrite', { host: '[::1]:80' })).toEqual([]);
    expect(issuesOf('host-rewrite', {})).toEqual([{ path: `${at}.params.host`, message: 'is required' }]);
    expect(issuesOf('host-rewrite', { host: 'a b' })).toEqual([{ path: `${at}.params.host`, message: expect.stringContaining('host name') }]);
    expect(validatePolicyAttachment({ name: 'host-rewrite', version: 'v1', params: { host: 'a.example.com' } }, at, 'plan')).toEqual([
      { path: `${at}.name`, message: expect.stringContaining('cannot be attached to a plan') },
    ]);
  });

  it('checks request-rewrite params: each pathRewrite type, and refuses what no route field serves', () => {
    expect(issuesOf('request-rewrite', { pathRewrite: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } })).toEqual([]);
    expect(issuesOf('request-rewrite', { pathRewrite: { type: 'ReplaceFullPath', replaceFullPath: '/fixed' } })).toEqual([]);
    expect(issuesOf('request-rewrite', { pathRewrite: { type: 'ReplaceRegexMatch', replaceRegexMatch: { pattern: '^/a/(\\d+)', substitution: '/b/\\1' } } })).toEqual([]);
    expect(issuesOf('request-rewrite', { pathRewrite: { type: 'ReplaceFullPath', replaceFullPath: 'fixed' } })).toEqual([
      { path: `${at}.params.pathRewrite.replaceFullPath`, message: 'must start with /' },
    ]);
    expect(issuesOf('request-rewrite', { pathRewrite: { type: 'ReplaceRegexMatch', replaceRegexMatch: { pattern: '^/(?=a)', substitution: '' } } })).toEqual([
      { path: `${at}.params.pathRewrite.replaceRegexMatch.pattern`, message: expect.stringContaining('invalid RE2 pattern') },
    ]);
    for (const pattern of ['/a', '^/a|/b', '(?i)^/a']) {
      expect(issuesOf('request-rewrite', { pathRewrite: { type: 'ReplaceRegexMatch', replaceRegexMatch: { pattern, substitution: '' } } })).toEqual([
        { path: `${at}.params.pathRewrite.replaceRegexMatch.pattern`, message: expect.stringContaining('must start with ^') },
      ]);
    }
    expect(issuesOf('request-rewrite', { pathRewrite: { type: 'ReplaceRegexMatch', replaceRegexMatch: { pattern: '^/(a|b)[|]\\|', substitution: '' } } })).toEqual([]);
    for (const field of ['queryRewrite', 'methodRewrite', 'match']) {
      expect(issuesOf('request-rewrite', { pathRewrite: { type: 'ReplaceFullPath', replaceFullPath: '/x' }, [field]: {} })).toEqual([
        { path: `${at}.params.${field}`, message: expect.stringContaining('is not supported') },
      ]);
    }
    expect(issuesOf('request-rewrite', {}).map((i) => i.path)).toEqual([`${at}.params.pathRewrite`]);
  });

  describe('respond, redirect and cors params (the reference\'s names)', () => {
    it('accepts the reference\'s examples', () => {
      expect(issuesOf('respond', { statusCode: 201, body: '{"id":1}', headers: [{ name: 'Content-Type', value: 'application/json' }] })).toEqual([]);
      expect(issuesOf('respond', {})).toEqual([]);
      expect(issuesOf('redirect', { statusCode: 308, scheme: 'https', hostname: 'newhost.example.com', port: 8443, path: { mode: 'full', value: '/moved' } }, 'v0')).toEqual([]);
      expect(issuesOf('cors', { allowedOrigins: ['http://example.com', 'https://*.example.com'], allowedMethods: ['GET', 'POST'], allowedHeaders: ['Content-Type'], exposedHeaders: ['X-Custom-Header'], allowCredentials: true })).toEqual([]);
    });

    it('names the field with the reference\'s message when an integer param is given a string', () => {
      expect(issuesOf('respond', { statusCode: '200' })).toEqual([{ path: `${at}.params.statusCode`, message: 'Invalid type. Expected: integer, given: string' }]);
      expect(issuesOf('redirect', { hostname: 'example.org', port: 80.5 }, 'v0')).toEqual([{ path: `${at}.params.port`, message: 'Invalid type. Expected: integer, given: number' }]);
    });

    it('refuses what the modules cannot serve, naming the field', () => {
      const paths = (name: string, params: unknown, version = 'v1') => issuesOf(name, params, version).map((i) => i.path);
      expect(paths('respond', { statusCode: 100 })).toEqual([`${at}.params.statusCode`]);
      expect(paths('respond', { statusCode: 204, body: 'x' })).toEqual([`${at}.params.body`]);
      expect(paths('respond', { headers: [{ name: 'Content-Length', value: '3' }] })).toEqual([`${at}.params.headers[0].name`]);
      expect(paths('redirect', { statusCode: 200, hostname: 'example.org' }, 'v0')).toEqual([`${at}.params.statusCode`]);
      expect(issuesOf('redirect', { statusCode: 301 }, 'v0')).toEqual([{ path: `${at}.params`, message: 'must set at least one of scheme, hostname, port or path' }]);
      expect(paths('redirect', { path: { mode: 'full', value: 'x?y' } }, 'v0')).toEqual([`${at}.params.path.value`]);
      expect(paths('redirect', { hostname: 'example.org' }, 'v1')).toEqual([`${at}.version`]);
      expect(paths('cors', {})).toEqual([`${at}.params.allowedOrigins`]);
      expect(paths('cors', { allowedOrigins: ['^https://[^.]+\\.example\\.com$'] })).toEqual([`${at}.params.allowedOrigins[0]`]);
      expect(paths('cors', { allowedOrigins: ['*'], allowCredentials: true })).toEqual([`${at}.params.allowCredentials`]);
      expect(paths('cors', { allowedOrigins: ['*'], allowedMethods: ['FETCH'] })).toEqual([`${at}.params.allowedMethods[0]`]);
    });
  });

  it('refuses names no data plane serves (the reference\'s interceptor-service, log-message) at .name', () => {
    for (const name of ['interceptor-service', 'log-message']) {
      expect(issuesOf(name, {})).toEqual([{ path: `${at}.name`, message: expect.stringContaining(`Unknown policy '${name}'`) }]);
    }
  });

  it('refuses a kind where it cannot be attached, an execution condition outside the CEL subset, and any on a plan', () => {
    const planIssues = (name: string, params: unknown) => validatePolicyAttachment({ name, version: 'v1', params }, 'policies[0]', 'plan');
    expect(planIssues('api-key', { in: 'header', key: 'x-key' })).toEqual([{ path: 'policies[0].name', message: expect.stringContaining('cannot be attached to a plan') }]);
    expect(planIssues('throttle', { planQuota: true })).toEqual([]);
    const throttle = (executionCondition: string, where: 'operation' | 'plan' = 'operation') =>
      validatePolicyAttachment({ name: 'throttle', version: 'v1', executionCondition, params: { planQuota: true } }, at, where);
    expect(throttle('request.method == "GET"')).toEqual([{ path: `${at}.executionCondition`, message: 'Invalid execution condition: No such key: method at offset 8' }]);
    expect(throttle('request.Method == "GET"')).toEqual([]);
    expect(throttle('request.Method == "GET"', 'plan')).toEqual([{ path: `${at}.executionCondition`, message: expect.stringContaining('not supported on plan policies') }]);
    expect(throttle('')).toEqual([]);
  });

  it('refuses a conditional attachment that shares its route with another of its kind, naming the other', () => {
    const set = (executionCondition?: string) => ({ name: 'set-headers', params: { request: { headers: [{ name: 'x-a', value: '1' }] } }, ...(executionCondition ? { executionCondition } : {}) });
    expect(attachmentChainIssues([{ path: 'spec.policies[0]', policy: set() }, { path: 'spec.operations[0].policies[0]', policy: set('request.Method == "GET"') }])).toEqual([
      { path: 'spec.operations[0].policies[0].executionCondition', message: expect.stringContaining('spec.policies[0] is another') },
    ]);
    expect(attachmentChainIssues([{ path: 'spec.policies[0]', policy: { name: 'api-key', params: { key: 'k', in: 'header' } } }, { path: 'spec.policies[1]', policy: set('true') }])).toEqual([]);
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
