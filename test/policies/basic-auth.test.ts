import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Plugin } from '../../server/gateway/proxy-wasm/plugin.ts';
import { createManualClock } from '../../server/gateway/proxy-wasm/clock.ts';
import { BASIC_AUTH_PBKDF2_ITERATIONS, hashBasicAuthPassword } from '../../server/policies/basic-auth.ts';
import { headerOf, jsonOf, loadPolicy, localReplyOf, sendRequest, type TestRequest } from '../helpers/policies.ts';

const ROUTE = 'reading-list/GET/books';
const OTHER_ROUTE = 'reading-list/GET/authors';

/** `pbkdf2-sha256$<iterations>$<salt>$<dk>` as the control plane stores it (node:crypto). */
function hashOf(password: string | Buffer, iterations = 1000, salt: Buffer = randomBytes(16), keyLength = 32): string {
  const dk = pbkdf2Sync(password, salt, iterations, keyLength, 'sha256');
  return `pbkdf2-sha256$${iterations}$${salt.toString('base64url')}$${dk.toString('base64url')}`;
}

function basic(username: string, password: string | Buffer): string {
  return `Basic ${Buffer.concat([Buffer.from(`${username}:`), Buffer.from(password)]).toString('base64')}`;
}

function pbkdf2Runs(plugin: Plugin): bigint {
  return plugin.metrics.snapshot().find((m) => m.name === 'apip_basic_auth_pbkdf2_total')?.value ?? 0n;
}

const aliceHash = hashOf('wonderland');
const bobHash = hashOf('builder');

const configuration = {
  users: {
    readers: [{ username: 'alice', hash: aliceHash }, { username: 'bob', hash: bobHash }],
    admins: [{ username: 'alice', hash: hashOf('admin-secret') }],
  },
  planPolicies: { 'plan-gold': { users: 'admins', realm: 'gold' } },
  routes: {
    [ROUTE]: { users: 'readers', realm: 'reading list' },
  },
};

function send(plugin: Plugin, request: TestRequest) {
  return sendRequest(plugin, { route: ROUTE, ...request });
}

describe('basic-auth policy', () => {
  it('admits the request and names the user when the credential matches a user of the route set', async () => {
    const plugin = await loadPolicy('basic-auth', configuration);
    const { outcome, headers } = send(plugin, { headers: [['authorization', basic('alice', 'wonderland')]] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-apip-user-id')).toBe('alice');
    expect(headers.get('authorization')).toBeUndefined();
  });

  it('keeps the Authorization header when the entry propagates the credential', async () => {
    const plugin = await loadPolicy('basic-auth', {
      ...configuration,
      routes: { [ROUTE]: { users: 'readers', propagateCredential: true } },
    });
    const { outcome, headers } = send(plugin, { headers: [['authorization', basic('bob', 'builder')]] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('authorization')).toBe(basic('bob', 'builder'));
    expect(headers.get('x-apip-user-id')).toBe('bob');
  });

  it('answers 401 Missing credentials with the Basic challenge when the header is absent or malformed', async () => {
    const plugin = await loadPolicy('basic-auth', configuration);
    const malformed = [
      undefined,
      'Bearer abc',
      'Basic',
      'Basic ',
      'Basic !!!not-base64',
      `Basic ${Buffer.from('no-colon').toString('base64')}`,
      `Basic ${Buffer.from(':password-without-user').toString('base64')}`,
      `Basicx ${Buffer.from('alice:wonderland').toString('base64')}`,
    ];
    for (const value of malformed) {
      const reply = localReplyOf(send(plugin, { headers: value === undefined ? [] : [['authorization', value]] }).outcome);
      expect(reply.status, String(value)).toBe(401);
      expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Missing credentials.' });
      expect(headerOf(reply, 'www-authenticate')).toBe('Basic realm="reading list"');
      expect(reply.details).toBe('apip_basic_auth_missing');
    }
  });

  it('accepts the scheme name in any case', async () => {
    const plugin = await loadPolicy('basic-auth', configuration);
    const value = basic('alice', 'wonderland').replace('Basic', 'bAsIc');
    expect(send(plugin, { headers: [['authorization', value]] }).outcome.action).toBe('continue');
  });

  it('answers 401 Invalid credentials when the password is wrong or the user unknown', async () => {
    const plugin = await loadPolicy('basic-auth', configuration);
    for (const value of [basic('alice', 'Wonderland'), basic('alice', ''), basic('carol', 'wonderland'), basic('bob', 'wonderland')]) {
      const { outcome, headers } = send(plugin, { headers: [['authorization', value]] });
      const reply = localReplyOf(outcome);
      expect(reply.status).toBe(401);
      expect(jsonOf(reply)).toEqual({ status: 'error', message: 'Invalid credentials.' });
      expect(headerOf(reply, 'www-authenticate')).toBe('Basic realm="reading list"');
      expect(reply.details).toBe('apip_basic_auth_invalid');
      expect(headers.get('x-apip-user-id')).toBeUndefined();
    }
  });

  it('passes requests through when neither the route nor the plan has an entry', async () => {
    const plugin = await loadPolicy('basic-auth', configuration);
    const { outcome, headers } = sendRequest(plugin, { route: OTHER_ROUTE, headers: [['x-apip-plan', 'plan-silver']] });
    expect(outcome.action).toBe('continue');
    expect(headers.get('x-apip-user-id')).toBeUndefined();
  });

  it('applies the plan policy of x-apip-plan when the route has no entry', async () => {
    const plugin = await loadPolicy('basic-auth', configuration);
    const denied = localReplyOf(sendRequest(plugin, { route: OTHER_ROUTE, headers: [['x-apip-plan', 'plan-gold']] }).outcome);
    expect(denied.status).toBe(401);
    expect(headerOf(denied, 'www-authenticate')).toBe('Basic realm="gold"');
    const wrongSet = sendRequest(plugin, {
      route: OTHER_ROUTE,
      headers: [['x-apip-plan', 'plan-gold'], ['authorization', basic('alice', 'wonderland')]],
    });
    expect(localReplyOf(wrongSet.outcome).status).toBe(401);
    const admitted = sendRequest(plugin, {
      route: OTHER_ROUTE,
      headers: [['x-apip-plan', 'plan-gold'], ['authorization', basic('alice', 'admin-secret')]],
    });
    expect(admitted.outcome.action).toBe('continue');
    expect(admitted.headers.get('x-apip-user-id')).toBe('alice');
  });

  it('requires the credential to satisfy both the plan policy and the route entry when both apply', async () => {
    const plugin = await loadPolicy('basic-auth', {
      users: {
        plan: [{ username: 'alice', hash: aliceHash }, { username: 'bob', hash: bobHash }],
        route: [{ username: 'alice', hash: aliceHash }],
      },
      planPolicies: { 'plan-gold': { users: 'plan', realm: 'plan' } },
      routes: { [ROUTE]: { users: 'route', realm: 'route' } },
    });
    const both = send(plugin, { headers: [['x-apip-plan', 'plan-gold'], ['authorization', basic('alice', 'wonderland')]] });
    expect(both.outcome.action).toBe('continue');
    const planOnly = localReplyOf(send(plugin, { headers: [['x-apip-plan', 'plan-gold'], ['authorization', basic('bob', 'builder')]] }).outcome);
    expect(planOnly.status).toBe(401);
    expect(headerOf(planOnly, 'www-authenticate')).toBe('Basic realm="route"');
    const none = localReplyOf(send(plugin, { headers: [['x-apip-plan', 'plan-gold']] }).outcome);
    expect(headerOf(none, 'www-authenticate')).toBe('Basic realm="plan"');
  });

  it('runs PBKDF2 once per credential when the same credential comes again', async () => {
    const plugin = await loadPolicy('basic-auth', configuration);
    for (let i = 0; i < 5; i++) expect(send(plugin, { headers: [['authorization', basic('alice', 'wonderland')]] }).outcome.action).toBe('continue');
    expect(pbkdf2Runs(plugin)).toBe(1n);
    send(plugin, { headers: [['authorization', basic('bob', 'builder')]] });
    expect(pbkdf2Runs(plugin)).toBe(2n);
    // Wrong passwords are not cached: each costs a verification.
    send(plugin, { headers: [['authorization', basic('bob', 'wrong')]] });
    send(plugin, { headers: [['authorization', basic('bob', 'wrong')]] });
    expect(pbkdf2Runs(plugin)).toBe(4n);
    // An unknown user costs one too (against a decoy), so timing does not tell which usernames exist.
    send(plugin, { headers: [['authorization', basic('mallory', 'x')]] });
    expect(pbkdf2Runs(plugin)).toBe(5n);
  });

  it('answers 429 without hashing once uncached checks exceed the PBKDF2 budget, while cached credentials still pass', async () => {
    const clock = createManualClock(Date.parse('2026-04-01T10:00:00Z'));
    // 2,500 iterations a second: two checks of these 1,000-iteration hashes, not three.
    const plugin = await loadPolicy('basic-auth', { ...configuration, pbkdf2IterationsPerSecond: 2500 }, { clock });
    expect(send(plugin, { headers: [['authorization', basic('alice', 'wonderland')]] }).outcome.action).toBe('continue');
    expect(localReplyOf(send(plugin, { headers: [['authorization', basic('bob', 'wrong')]] }).outcome).status).toBe(401);
    const busy = localReplyOf(send(plugin, { headers: [['authorization', basic('bob', 'wrong-again')]] }).outcome);
    expect(busy.status).toBe(429);
    expect(headerOf(busy, 'retry-after')).toBe('1');
    expect(jsonOf(busy)).toEqual({ status: 'error', message: 'Too many credential checks; retry later.' });
    // Unknown users spend the same budget (a decoy check), so they are refused alike.
    expect(localReplyOf(send(plugin, { headers: [['authorization', basic('mallory', 'x')]] }).outcome).status).toBe(429);
    expect(pbkdf2Runs(plugin)).toBe(2n);
    expect(send(plugin, { headers: [['authorization', basic('alice', 'wonderland')]] }).outcome.action).toBe('continue');
    clock.advance(1000);
    expect(localReplyOf(send(plugin, { headers: [['authorization', basic('bob', 'wrong-again')]] }).outcome).status).toBe(401);
    expect(send(plugin, { headers: [['authorization', basic('bob', 'builder')]] }).outcome.action).toBe('continue');
  });

  it('verifies hashes of the control plane\'s work factor and keeps accepting older, weaker ones', async () => {
    const strong = await hashBasicAuthPassword('strong-pw');
    expect(strong.split('$')[1]).toBe(String(BASIC_AUTH_PBKDF2_ITERATIONS));
    const plugin = await loadPolicy('basic-auth', {
      users: { mixed: [{ username: 'new', hash: strong }, { username: 'old', hash: hashOf('old-pw', 1000) }] },
      routes: { [ROUTE]: { users: 'mixed' } },
    });
    expect(send(plugin, { headers: [['authorization', basic('new', 'strong-pw')]] }).outcome.action).toBe('continue');
    expect(send(plugin, { headers: [['authorization', basic('old', 'old-pw')]] }).outcome.action).toBe('continue');
    expect(localReplyOf(send(plugin, { headers: [['authorization', basic('new', 'old-pw')]] }).outcome).status).toBe(401);
  });

  it('does not accept a credential cached for one set on another set holding the same username', async () => {
    const plugin = await loadPolicy('basic-auth', configuration);
    const credential = basic('alice', 'wonderland');
    expect(send(plugin, { headers: [['authorization', credential]] }).outcome.action).toBe('continue');
    const onGold = sendRequest(plugin, { route: OTHER_ROUTE, headers: [['x-apip-plan', 'plan-gold'], ['authorization', credential]] });
    expect(localReplyOf(onGold.outcome).status).toBe(401);
  });

  it('keeps verified credentials across a configuration push that leaves their user unchanged', async () => {
    // Every snapshot push reconfigures the module: re-verifying everyone then would spend the PBKDF2 budget on
    // nothing (and answer 429 to users whose password did not change).
    const plugin = await loadPolicy('basic-auth', configuration);
    const credential = basic('alice', 'wonderland');
    expect(send(plugin, { headers: [['authorization', credential]] }).outcome.action).toBe('continue');
    expect(pbkdf2Runs(plugin)).toBe(1n);
    expect(plugin.reconfigure(JSON.stringify({ ...configuration, users: { ...configuration.users, extra: [{ username: 'carol', hash: hashOf('c') }] } }))).toBe(true);
    expect(send(plugin, { headers: [['authorization', credential]] }).outcome.action).toBe('continue');
    expect(pbkdf2Runs(plugin)).toBe(1n);
  });

  it('forgets a verified credential once its user has another hash', async () => {
    const plugin = await loadPolicy('basic-auth', configuration);
    const credential = basic('alice', 'wonderland');
    expect(send(plugin, { headers: [['authorization', credential]] }).outcome.action).toBe('continue');
    expect(plugin.reconfigure(JSON.stringify({
      ...configuration,
      users: { ...configuration.users, readers: [{ username: 'alice', hash: hashOf('new-password') }] },
    }))).toBe(true);
    expect(localReplyOf(send(plugin, { headers: [['authorization', credential]] }).outcome).status).toBe(401);
    expect(send(plugin, { headers: [['authorization', basic('alice', 'new-password')]] }).outcome.action).toBe('continue');
  });

  it('keeps at most 256 verified credentials', async () => {
    const users = Array.from({ length: 300 }, (_, i) => ({ username: `user-${i}`, hash: hashOf(`pw-${i}`, 1) }));
    const plugin = await loadPolicy('basic-auth', { users: { many: users }, routes: { [ROUTE]: { users: 'many' } } });
    for (let i = 0; i < 300; i++) expect(send(plugin, { headers: [['authorization', basic(`user-${i}`, `pw-${i}`)]] }).outcome.action).toBe('continue');
    expect(pbkdf2Runs(plugin)).toBe(300n);
    // The newest 256 are cached; the first 44 were evicted (first in, first out).
    for (let i = 44; i < 300; i++) send(plugin, { headers: [['authorization', basic(`user-${i}`, `pw-${i}`)]] });
    expect(pbkdf2Runs(plugin)).toBe(300n);
    send(plugin, { headers: [['authorization', basic('user-0', 'pw-0')]] });
    expect(pbkdf2Runs(plugin)).toBe(301n);
  });

  it('matches node:crypto PBKDF2-HMAC-SHA256 across password, salt, key lengths and iteration counts', async () => {
    const cases: { password: Buffer; salt: Buffer; iterations: number; keyLength: number }[] = [
      { password: Buffer.alloc(0), salt: randomBytes(8), iterations: 1, keyLength: 32 },
      { password: Buffer.from('p'), salt: randomBytes(16), iterations: 2, keyLength: 16 },
      { password: Buffer.from(randomBytes(63).map((b) => (b % 94) + 33)), salt: randomBytes(64), iterations: 3, keyLength: 20 },
      { password: Buffer.from('x'.repeat(64)), salt: randomBytes(16), iterations: 1000, keyLength: 33 },
      { password: Buffer.from('y'.repeat(65)), salt: randomBytes(16), iterations: 17, keyLength: 64 },
      { password: Buffer.from('pässwörd ✓ '.repeat(12)), salt: randomBytes(31), iterations: 4096, keyLength: 32 },
    ];
    for (const [i, c] of cases.entries()) {
      const hash = hashOf(c.password, c.iterations, c.salt, c.keyLength);
      const plugin = await loadPolicy('basic-auth', { users: { s: [{ username: 'u', hash }] }, routes: { [ROUTE]: { users: 's' } } });
      expect(plugin.isConfigured, `case ${i}`).toBe(true);
      expect(send(plugin, { headers: [['authorization', basic('u', c.password)]] }).outcome.action, `case ${i}`).toBe('continue');
      const wrong = Buffer.concat([c.password, Buffer.from('!')]);
      expect(localReplyOf(send(plugin, { headers: [['authorization', basic('u', wrong)]] }).outcome).status, `case ${i}`).toBe(401);
    }
  });

  it('refuses configurations with problems and fails closed', async () => {
    const good = hashOf('pw');
    const bad: [string, unknown][] = [
      ['no users', { routes: {} }],
      ['no routes', { users: {} }],
      ['dangling set', { users: {}, routes: { [ROUTE]: { users: 'nope' } } }],
      ['dangling plan set', { users: {}, planPolicies: { p: { users: 'nope' } }, routes: {} }],
      ['other algorithm', { users: { s: [{ username: 'u', hash: good.replace('pbkdf2-sha256', 'pbkdf2-sha1') }] }, routes: {} }],
      ['zero iterations', { users: { s: [{ username: 'u', hash: good.replace(/\$1000\$/, '$0$') }] }, routes: {} }],
      ['too many iterations', { users: { s: [{ username: 'u', hash: good.replace(/\$1000\$/, '$1000001$') }] }, routes: {} }],
      ['short salt', { users: { s: [{ username: 'u', hash: hashOf('pw', 1000, randomBytes(4)) }] }, routes: {} }],
      ['bad key', { users: { s: [{ username: 'u', hash: `${good.slice(0, good.lastIndexOf('$'))}$***` }] }, routes: {} }],
      ['colon in username', { users: { s: [{ username: 'a:b', hash: good }] }, routes: {} }],
      ['duplicate user', { users: { s: [{ username: 'u', hash: good }, { username: 'u', hash: good }] }, routes: {} }],
      ['quote in realm', { users: { s: [] }, routes: { [ROUTE]: { users: 's', realm: 'a"b' } } }],
      ['not json', '{'],
    ];
    for (const [label, config] of bad) {
      const plugin = await loadPolicy('basic-auth', config);
      expect(plugin.isConfigured, label).toBe(false);
      const reply = localReplyOf(sendRequest(plugin, { route: ROUTE, headers: [['authorization', basic('u', 'pw')]] }).outcome);
      expect(reply.status, label).toBe(500);
    }
  });

  it('defaults the realm to "api"', async () => {
    const plugin = await loadPolicy('basic-auth', { users: { s: [] }, routes: { [ROUTE]: { users: 's' } } });
    expect(headerOf(localReplyOf(send(plugin, {}).outcome), 'www-authenticate')).toBe('Basic realm="api"');
  });

  it('strips forged identity headers when it is the first policy of the chain', async () => {
    const plugin = await loadPolicy('basic-auth', { ...configuration, stripIdentityHeaders: true });
    const { outcome } = sendRequest(plugin, { route: OTHER_ROUTE, headers: [['x-apip-plan', 'plan-gold']] });
    expect(outcome.action).toBe('continue');
  });
});
