import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../../helpers/database.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';

const issuer = 'https://idp.test';
const { publicKey, privateKey } = await generateKeyPair('RS256');
const { privateKey: strangerKey } = await generateKeyPair('RS256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' };

function token(claims: { sub?: string; iss?: string; exp?: string }, key = privateKey): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuedAt().setIssuer(claims.iss ?? issuer);
  if (claims.sub) jwt.setSubject(claims.sub);
  jwt.setExpirationTime(claims.exp ?? '5m');
  return jwt.sign(key);
}

describe.each(shapeDrivers)('management authentication and audit log (%s)', (driver) => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform(driver, { jwtAuth: { issuer, jwks: { keys: [jwk] } } });
    await t.graphql('mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }', {
      input: { username: 'erin', password: 'erin-password', role: 'publisher' },
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('accepts a Bearer JWT from the configured issuer whose sub is a stored user', async () => {
    const res = await t.graphql<{ me: { username: string; role: string } }>('{ me { username role } }', {}, `Bearer ${await token({ sub: 'erin' })}`);
    expect(res.data?.me).toEqual({ username: 'erin', role: 'publisher' });
  });

  it('answers 401 when the JWT is signed by another key', async () => {
    const res = await t.graphql('{ me { username } }', {}, `Bearer ${await token({ sub: 'erin' }, strangerKey)}`);
    expect(res.status).toBe(401);
  });

  it('answers 401 when the JWT comes from another issuer, has expired, or names no stored user', async () => {
    for (const bad of [
      await token({ sub: 'erin', iss: 'https://evil.test' }),
      await token({ sub: 'erin', exp: '-1m' }),
      await token({ sub: 'nobody' }),
    ]) {
      const res = await t.graphql('{ me { username } }', {}, `Bearer ${bad}`);
      expect(res.status).toBe(401);
    }
  });

  it('records who created a user, and when, in the audit log without the password', async () => {
    const res = await t.graphql<{ auditLog: { nodes: { action: string; actorName: string; after: Record<string, unknown>; at: string }[] } }>(
      '{ auditLog(entityType: "user", first: 50) { nodes { action actorName after at } } }',
    );
    const entry = res.data?.auditLog.nodes.find((n) => n.action === 'user.create' && n.after.username === 'erin');
    expect(entry?.actorName).toBe('admin');
    expect(Number.isNaN(Date.parse(entry?.at ?? ''))).toBe(false);
    expect(JSON.stringify(res.data)).not.toContain('erin-password');
  });

  it('forbids anyone but an admin from reading the audit log', async () => {
    const res = await t.graphql('{ auditLog(first: 5) { nodes { action } } }', {}, basicAuth('erin', 'erin-password'));
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
