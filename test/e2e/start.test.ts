import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { basicAuth } from '../helpers/platform.ts';
import { startServerProcess } from '../helpers/process.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'apip-start-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function graphql(port: number, auth: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: auth },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as { data?: Record<string, unknown> } };
}

const env = { MANAGEMENT_PORT: '0', GATEWAY_PORT: '0', XDS_PORT: '0', DATA_DIR: dataDir, HOST: '127.0.0.1' };

describe('npm start on embedded PGlite', () => {
  let generatedPassword = '';

  it('creates an admin with a random password printed once when no admin is configured', async () => {
    const server = await startServerProcess(env);
    try {
      expect(server.ports.management).toBeGreaterThan(0);
      const match = /Created admin user 'admin' with password: (\S+)/.exec(server.stderr());
      expect(match).not.toBeNull();
      generatedPassword = match?.[1] ?? '';
      const me = await graphql(server.ports.management, basicAuth('admin', generatedPassword), '{ me { username } }');
      expect(me.body.data).toEqual({ me: { username: 'admin' } });
      const created = await graphql(
        server.ports.management,
        basicAuth('admin', generatedPassword),
        'mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }',
        { input: { username: 'persisted', password: 'persisted-password', role: 'publisher' } },
      );
      expect(created.body.data).toEqual({ createUser: { __typename: 'CreateUserPayload' } });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('keeps every stored user across a restart and prints no new password', async () => {
    const server = await startServerProcess(env);
    try {
      expect(server.stderr()).not.toContain('Created admin user');
      const me = await graphql(server.ports.management, basicAuth('persisted', 'persisted-password'), '{ me { username role } }');
      expect(me.body.data).toEqual({ me: { username: 'persisted', role: 'publisher' } });
      const admin = await graphql(server.ports.management, basicAuth('admin', generatedPassword), '{ me { username } }');
      expect(admin.status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  it('makes ADMIN_USERNAME/ADMIN_PASSWORD the admin credentials at start-up', async () => {
    const server = await startServerProcess({ ...env, ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'root-password-1' });
    try {
      const me = await graphql(server.ports.management, basicAuth('root', 'root-password-1'), '{ me { username role } }');
      expect(me.body.data).toEqual({ me: { username: 'root', role: 'admin' } });
    } finally {
      await server.stop();
    }
  });
});
