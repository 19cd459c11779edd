// The condition module (policies/condition, docs/execution-conditions.md) through the compiled wasm, driven by the
// fixture that also drives cel-js, the reference CEL evaluator: the control plane compiles each condition
// (server/domain/conditions), the module evaluates it, cel-js evaluates the text, and all agree with `expected`.
import { Environment } from '@marcbachmann/cel-js';
import { describe, expect, it } from 'vitest';
import { compileCondition } from '../../server/domain/conditions/index.ts';
import fixture from '../fixtures/execution-conditions.json' with { type: 'json' };
import { captureLogger, jsonOf, loadPolicy, localReplyOf, sendRequest } from '../helpers/policies.ts';

type Evaluation = (typeof fixture.evaluations)[number];
interface FixtureRequest {
  method?: string;
  path?: string;
  headers?: [string, string][];
}

const ROUTE = 'cel/GET/things';

function compiled(text: string): unknown[] {
  const check = compileCondition(text);
  if (!check.ok) throw new Error(`${text}: ${check.message} at offset ${check.offset}`);
  return check.compiled;
}

const reference = new Environment({ unlistedVariablesAreDyn: false })
  .registerType('Request', { fields: { Method: 'string', Path: 'string', Headers: 'map<string, list<string>>', Query: 'map<string, list<string>>' } })
  .registerVariable('request', 'Request');

/** What cel-js says: true, false or "error" (an evaluation error), given the request as the module sees it. */
function celJs(condition: string, request: FixtureRequest): boolean | 'error' {
  const method = request.method ?? 'GET';
  const path = request.path ?? '/';
  const headers = new Map<string, string[]>();
  for (const [name, value] of request.headers ?? []) headers.set(name, [...(headers.get(name) ?? []), value]);
  const query = new Map<string, string[]>();
  const q = path.indexOf('?');
  if (q >= 0) for (const [name, value] of new URLSearchParams(path.slice(q + 1))) query.set(name, [...(query.get(name) ?? []), value]);
  try {
    return reference.evaluate(condition, { request: { Method: method, Path: path, Headers: headers, Query: query } }) as boolean;
  } catch {
    return 'error';
  }
}

const verdicts: Record<string, boolean | 'error'> = { '1': true, '0': false, E: 'error' };

describe('condition module', () => {
  it.each(fixture.evaluations.map((c, i) => [i, c.condition, c] as const))('case %i: %s', async (_, condition, c: Evaluation) => {
    const request = c.request as FixtureRequest;
    expect(celJs(condition, request), 'cel-js').toBe(c.expected);
    const plugin = await loadPolicy('condition', { stripIdentityHeaders: true, routes: { [ROUTE]: { conditions: [compiled(condition)] } } });
    expect(plugin.isConfigured).toBe(true);
    const { outcome, headers } = sendRequest(plugin, { route: ROUTE, method: request.method ?? 'GET', path: request.path ?? '/', headers: request.headers ?? [] });
    expect(outcome.action).toBe('continue');
    expect(verdicts[headers.get('x-apip-conditions') ?? '']).toBe(c.expected);
  });

  it.each(fixture.invalid.map((c) => [c.condition, c] as const))('refuses %s at write time with its offset', (condition, c) => {
    const check = compileCondition(condition);
    expect(check).toMatchObject({ ok: false, offset: c.offset, message: expect.stringContaining(c.message) });
  });

  it('refuses conditions over the limits: 1024 characters, 64 nodes, 32 levels', () => {
    expect(compileCondition(`"${'a'.repeat(1015)}" == "a"`)).toMatchObject({ ok: true });
    expect(compileCondition(`"${'a'.repeat(1016)}" == "a"`)).toEqual({ ok: false, message: 'longer than 1024 characters', offset: 1024 });
    expect(compileCondition(Array(32).fill('true').join(' && '))).toMatchObject({ ok: true });
    expect(compileCondition(Array(33).fill('true').join(' && '))).toMatchObject({ ok: false, message: 'more than 64 nodes' });
    expect(compileCondition(`${'!'.repeat(32)}true`)).toMatchObject({ ok: true });
    expect(compileCondition(`${'!'.repeat(33)}true`)).toMatchObject({ ok: false, message: 'nested more than 32 levels deep' });
  });

  it('sets one verdict per condition of the route, in order, and overrides a forged header', async () => {
    const conditions = ['request.Method == "GET"', 'request.Method == "POST"', 'request.Headers["x-none"][0] == "a"'].map(compiled);
    const plugin = await loadPolicy('condition', { stripIdentityHeaders: true, routes: { [ROUTE]: { conditions } } });
    const { headers } = sendRequest(plugin, { route: ROUTE, headers: [['x-apip-conditions', '111'], ['x-apip-plan', 'forged']] });
    expect(headers.get('x-apip-conditions')).toBe('10E');
    expect(headers.get('x-apip-plan')).toBeUndefined();
  });

  it('leaves a route without conditions alone', async () => {
    const plugin = await loadPolicy('condition', { stripIdentityHeaders: true, routes: { [ROUTE]: { conditions: [compiled('true')] } } });
    const { outcome, headers } = sendRequest(plugin, { route: 'other/GET/x' });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-apip-conditions')).toBeUndefined();
  });

  it.each([
    ['an unknown operator', ['size', ['path']]],
    ['a wrong arity', ['==', ['method']]],
    ['a jump out of the program', ['matches', ['path'], [[2, 7], [5]]]],
    ['a program that runs off its end', ['matches', ['path'], [[0, 0, 97, 97]]]],
    ['a non-literal', ['s', 1]],
  ])('refuses a configuration with %s and fails closed', async (_, condition) => {
    const logger = captureLogger();
    const plugin = await loadPolicy('condition', { stripIdentityHeaders: true, routes: { [ROUTE]: { conditions: [condition] } } }, { logger });
    expect(plugin.isConfigured).toBe(false);
    expect(localReplyOf(sendRequest(plugin, { route: ROUTE }).outcome).status).toBe(500);
  });
});

// The gated side (policies/lib/conditions.ts through policy-root.ts): a module with `when` on a route runs, skips or denies.
describe('a module gated by `when`', () => {
  const configuration = { when: { [ROUTE]: 1 }, routes: { [ROUTE]: { request: { headers: [{ name: 'x-ran', value: 'yes' }] } } } };

  it.each([
    ['runs when its verdict is 1', '01', 'yes'],
    ['skips when its verdict is 0', '10', undefined],
  ])('%s', async (_, verdicts, ran) => {
    const plugin = await loadPolicy('set-headers', configuration);
    const { outcome, headers } = sendRequest(plugin, { route: ROUTE, headers: [['x-apip-conditions', verdicts]] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-ran')).toBe(ran);
  });

  it.each([['an error verdict', [['x-apip-conditions', '1E']]], ['no verdict for its index', [['x-apip-conditions', '1']]], ['no verdicts at all', []]])(
    'denies with 500 on %s',
    async (_, headers) => {
      for (const kind of ['set-headers', 'jwt'] as const) {
        const config = kind === 'set-headers' ? configuration : { when: { [ROUTE]: 1 }, keySets: { k: { keys: [{ kty: 'oct', kid: 'hs', k: 'BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc' }] } }, routes: { [ROUTE]: { keySets: ['k'] } } };
        const plugin = await loadPolicy(kind, config);
        expect(plugin.isConfigured, kind).toBe(true);
        const reply = localReplyOf(sendRequest(plugin, { route: ROUTE, headers: headers as [string, string][] }).outcome);
        expect(reply.status, kind).toBe(500);
        expect(jsonOf(reply)).toEqual({ status: 'error', message: 'The execution condition of a policy on this route could not be evaluated.' });
      }
    },
  );

  it('matches one code point with `.`, as RE2 does (JavaScript without the u flag sees two)', async () => {
    const plugin = await loadPolicy('condition', { stripIdentityHeaders: true, routes: { [ROUTE]: { conditions: [compiled('request.Path.matches("^/x.y$")')] } } });
    expect(sendRequest(plugin, { route: ROUTE, path: '/x\u{1F600}y' }).headers.get('x-apip-conditions')).toBe('1');
  });

  it('runs as before on a route without `when`', async () => {
    const plugin = await loadPolicy('set-headers', configuration);
    const { headers } = sendRequest(plugin, { route: 'other/GET/x' });
    expect(headers.get('x-ran')).toBeUndefined();
  });
});
