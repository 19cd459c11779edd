// policies/lib/selection-rule.ts through the compiled modules, driven by the fixture the control plane's twin
// (server/domain/selection-rule.ts, test/unit/domain/selection-rule.test.ts) is tested with.
import { randomBytes } from 'node:crypto';
import { SignJWT, base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import fixture from '../fixtures/selection-rules.json' with { type: 'json' };
import { apiKey, captureLogger, jsonOf, loadPolicy, localReplyOf, sendRequest, keyDigestHex, testDigestKeyHex } from '../helpers/policies.ts';
import type { TestResult } from '../helpers/policies.ts';

type RuleEntry = string | { rule: string; repeat?: number };
type Evaluation = (typeof fixture.evaluations)[number];

const ROUTE = 'rules/GET/things';
const secret = new Uint8Array(randomBytes(32));

function ruleText(entry: RuleEntry): string {
  return typeof entry === 'string' ? entry : entry.rule.repeat(entry.repeat ?? 1);
}

function label(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}... (${text.length} chars)` : text;
}

function request(c: Evaluation, headers: Array<[string, string]>) {
  const extra = Object.entries((c.request as { headers?: Record<string, string> }).headers ?? {});
  return { route: ROUTE, method: c.request.method, path: c.request.path, headers: [...headers, ...extra] };
}

/** true: admitted; false: 401 "No plan matches this request."; anything else fails the test. */
function admitted(result: TestResult): boolean {
  if (result.outcome.action === 'continue') return true;
  const reply = localReplyOf(result.outcome);
  expect(reply.status).toBe(401);
  expect(jsonOf(reply)).toEqual({ status: 'error', message: 'No plan matches this request.' });
  return false;
}

/** One api-key configuration: the key of case i belongs to plan p<i>, whose rule is the case's. */
function apiKeyConfiguration(rules: string[]) {
  return {
    stripIdentityHeaders: true,
    digestKey: testDigestKeyHex,
    plans: Object.fromEntries(rules.map((rule, i) => [`p${i}`, { rule }])),
    keySets: { rules: rules.map((_, i) => ({ sha256: keyDigestHex(apiKey(`case-${i}`)), status: 'active', plan: `p${i}` })) },
    routes: { [ROUTE]: { keySets: ['rules'], key: 'x-api-key' } },
  };
}

describe('selection rules in the modules', () => {
  it('accepts every valid rule of the fixture', async () => {
    const rules = (fixture.valid as RuleEntry[]).map(ruleText);
    const plugin = await loadPolicy('api-key', apiKeyConfiguration(rules));
    expect(plugin.isConfigured).toBe(true);
  });

  it.each(fixture.invalid.map((entry) => [label(ruleText(entry)), entry] as const))(
    'refuses the configuration with the offset when the rule is %s',
    async (_, entry) => {
      const logger = captureLogger();
      const plugin = await loadPolicy('api-key', apiKeyConfiguration([ruleText(entry)]), { logger });
      expect(plugin.isConfigured).toBe(false);
      const logged = logger.entries.map((e) => (e.fields as { message?: string }).message ?? '').join('\n');
      expect(logged).toContain(`$.plans["p0"].rule: invalid selection rule at offset ${entry.offset}`);
    },
  );

  it('refuses a jwt configuration whose plan rule is invalid', async () => {
    const logger = captureLogger();
    const plugin = await loadPolicy('jwt', {
      keySets: { k: { keys: [{ kty: 'oct', kid: 'hs', k: base64url.encode(secret) }] } },
      plans: { gold: { rule: "claims.tier = 'gold'" } },
      routes: { [ROUTE]: { keySets: ['k'] } },
    }, { logger });
    expect(plugin.isConfigured).toBe(false);
    const logged = logger.entries.map((e) => (e.fields as { message?: string }).message ?? '').join('\n');
    expect(logged).toContain('$.plans["gold"].rule: invalid selection rule at offset 12');
  });

  const withoutClaims = fixture.evaluations.filter((c) => c.claims === null);
  const withClaims = fixture.evaluations.filter((c) => c.claims !== null);

  it(`gives the fixture's answer for the ${withoutClaims.length} rules without claims (api-key)`, async () => {
    const plugin = await loadPolicy('api-key', apiKeyConfiguration(withoutClaims.map((c) => c.rule)));
    expect(plugin.isConfigured).toBe(true);
    const answers = withoutClaims.map((c, i) => admitted(sendRequest(plugin, request(c, [['x-api-key', apiKey(`case-${i}`)]]))));
    expect(answers.map((answer, i) => `${withoutClaims[i]!.rule} -> ${answer}`)).toEqual(
      withoutClaims.map((c) => `${c.rule} -> ${c.expected}`),
    );
  });

  it(`gives the fixture's answer for the ${withClaims.length} rules with claims (jwt)`, async () => {
    const plugin = await loadPolicy('jwt', {
      stripIdentityHeaders: true,
      keySets: { k: { keys: [{ kty: 'oct', kid: 'hs', k: base64url.encode(secret) }] } },
      plans: Object.fromEntries(withClaims.map((c, i) => [`p${i}`, { rule: c.rule }])),
      clients: { t: Object.fromEntries(withClaims.map((_, i) => [`c${i}`, [{ applicationId: 'app', subscriptionId: `s${i}`, plan: `p${i}` }]])) },
      routes: { [ROUTE]: { keySets: ['k'], clients: 't' } },
    });
    expect(plugin.isConfigured).toBe(true);
    const answers: boolean[] = [];
    for (const [i, c] of withClaims.entries()) {
      const token = await new SignJWT({ ...(c.claims as object), azp: `c${i}` }).setProtectedHeader({ alg: 'HS256', kid: 'hs' }).sign(secret);
      const result = sendRequest(plugin, request(c, [['authorization', `Bearer ${token}`]]));
      const answer = admitted(result);
      if (answer) expect(result.headers.get('x-apip-plan')).toBe(`p${i}`);
      answers.push(answer);
    }
    expect(answers.map((answer, i) => `${withClaims[i]!.rule} -> ${answer}`)).toEqual(withClaims.map((c) => `${c.rule} -> ${c.expected}`));
  });
});
