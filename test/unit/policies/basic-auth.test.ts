import { describe, expect, it } from 'vitest';
import { normalizePolicyParams } from '../../../server/domain/policy-registry.ts';
import {
  type BasicAuthPluginConfiguration, type BasicAuthRouteSettings, basicAuthFilter, hashBasicAuthPassword, basicAuthPassThrough, basicAuthUserSetName,
} from '../../../server/policies/basic-auth.ts';
import type { AttachmentContext } from '../../../server/policies/kind.ts';
import type { IrTables } from '../../../server/xds/ir.ts';
import { headerOf, loadPolicy, localReplyOf, sendRequest } from '../../helpers/policies.ts';

const ctx = { api: 'shop', apiKeySets: [], jwtPlanKeySets: [], jwtUrlKeySet: () => null, jwtClients: null } as unknown as AttachmentContext;

function tables(planPolicies: Record<string, Record<string, unknown>> = {}): IrTables {
  return { planPolicies } as unknown as IrTables;
}

function settingsOf(params: Record<string, unknown>): BasicAuthRouteSettings {
  const result = basicAuthFilter.fromParams(params, ctx);
  if (!result.ok) throw new Error(`expected settings: ${JSON.stringify(result.issues)}`);
  return result.settings;
}

function issuePaths(params: Record<string, unknown>): string[] {
  const result = basicAuthFilter.fromParams(params, ctx);
  return result.ok ? [] : result.issues.map((i) => i.path);
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

// Params as the domain stores them: clear passwords replaced by salted hashes.
const stored = (await normalizePolicyParams('basic-auth', { realm: 'staff', users: [{ username: 'ops', password: 'ops-pw' }, { username: 'audit', password: 'audit-pw' }] }))!;
const other = (await normalizePolicyParams('basic-auth', { users: [{ username: 'guest', password: 'guest-pw' }] }))!;

describe('basic-auth filter', () => {
  it('turns stored params into an entry naming a user set built from the hashes', () => {
    const settings = settingsOf(stored);
    const users = (stored.users as { username: string; passwordHash: string }[]).map((u) => ({ username: u.username, hash: u.passwordHash }));
    expect(settings).toEqual({ users: basicAuthUserSetName('shop', users), userList: users, realm: 'staff', propagateCredential: false });
    expect(settings.users).toMatch(/^shop\/basic-auth\/[0-9a-f]{16}$/);
    // Same params, same name (stable snapshots); other users, another name.
    expect(settingsOf(stored).users).toBe(settings.users);
    expect(settingsOf(other).users).not.toBe(settings.users);
  });

  it('defaults the realm to the API handle and propagateCredential to false', () => {
    expect(settingsOf(other)).toMatchObject({ realm: 'shop', propagateCredential: false });
  });

  it('refuses clear passwords, missing or malformed hashes and bad users at their paths', async () => {
    expect(issuePaths({ users: [{ username: 'a', password: 'clear' }] })).toEqual(['params.users[0].password']);
    expect(issuePaths({ users: [{ username: 'a', passwordHash: 'md5$abc' }] })).toEqual(['params.users[0].passwordHash']);
    expect(issuePaths({ users: [] })).toEqual(['params.users']);
    expect(issuePaths({})).toEqual(['params.users']);
    const hash = await hashBasicAuthPassword('x');
    expect(issuePaths({ users: [{ username: 'a:b', passwordHash: hash }] })).toEqual(['params.users[0].username']);
    expect(issuePaths({ users: [{ username: 'a', passwordHash: hash }, { username: 'a', passwordHash: hash }] })).toEqual(['params.users[1].username']);
    expect(issuePaths({ realm: 'a"b', users: [{ username: 'a', passwordHash: hash }] })).toEqual(['params.realm']);
    expect(issuePaths({ propagateCredential: 'yes', users: [{ username: 'a', passwordHash: hash }] })).toEqual(['params.propagateCredential']);
  });

  it('merges identical entries, lets a real entry replace a pass-through one and refuses two different sets', () => {
    const a = settingsOf(stored);
    const b = settingsOf(other);
    expect(basicAuthFilter.merge(a, settingsOf(stored))).toEqual(a);
    expect(basicAuthFilter.merge(basicAuthPassThrough(), a)).toEqual(a);
    expect(basicAuthFilter.merge(a, basicAuthPassThrough())).toEqual(a);
    expect(basicAuthFilter.merge(a, b)).toBe('two different basic-auth policies apply to this route');
  });

  it('builds users, planPolicies and routes, sorted, leaving pass-through entries out', () => {
    const a = settingsOf(stored);
    const b = settingsOf(other);
    const config = basicAuthFilter.pluginConfiguration(
      new Map([['shop/GET/b', a], ['shop/GET/a', basicAuthPassThrough()], ['shop/GET/c', a]]),
      tables({ 'plan-2': { 'basic-auth': b, 'set-headers': {} }, 'plan-1': { 'set-headers': {} } }),
    ) as BasicAuthPluginConfiguration;
    expect(Object.keys(config.users)).toEqual([a.users, b.users].sort());
    expect(config.users[a.users!]).toEqual(a.userList);
    expect(config.planPolicies).toEqual({ 'plan-2': { users: b.users, realm: 'shop', propagateCredential: false } });
    expect(config.routes).toEqual({
      'shop/GET/b': { users: a.users, realm: 'staff', propagateCredential: false },
      'shop/GET/c': { users: a.users, realm: 'staff', propagateCredential: false },
    });
    expect(JSON.stringify(config)).not.toContain('-pw');
  });

  it('produces a configuration the basic-auth module accepts and enforces', async () => {
    const config = basicAuthFilter.pluginConfiguration(
      new Map([['shop/GET/b', settingsOf(stored)]]),
      tables({ 'plan-guest': { 'basic-auth': settingsOf(other) } }),
    );
    const plugin = await loadPolicy('basic-auth', { stripIdentityHeaders: false, ...config });
    expect(plugin.isConfigured).toBe(true);
    expect(sendRequest(plugin, { route: 'shop/GET/b', headers: [['authorization', basic('ops', 'ops-pw')]] }).outcome.action).toBe('continue');
    const wrong = localReplyOf(sendRequest(plugin, { route: 'shop/GET/b', headers: [['authorization', basic('ops', 'audit-pw')]] }).outcome);
    expect(wrong.status).toBe(401);
    expect(headerOf(wrong, 'www-authenticate')).toBe('Basic realm="staff"');
    const guest = sendRequest(plugin, { route: 'shop/GET/x', headers: [['x-apip-plan', 'plan-guest'], ['authorization', basic('guest', 'guest-pw')]] });
    expect(guest.outcome.action).toBe('continue');
    // Attachments cannot ask to propagate Basic credentials (the registry has no such param): the upstream never sees them.
    expect(guest.headers.get('authorization')).toBeUndefined();
  });
});
