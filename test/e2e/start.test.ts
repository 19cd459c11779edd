import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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

const env = { MANAGEMENT_PORT: '0', GATEWAY_PORT: '0', XDS_PORT: '0', GATEWAY_ADMIN_PORT: '0', DATA_DIR: dataDir, GATEWAY_HOST: '127.0.0.1' };

describe('npm start on embedded PGlite', { timeout: 120_000 }, () => {
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

  it('prints where each port listens beside the ports line, xDS with mutual TLS', async () => {
    const server = await startServerProcess(env);
    try {
      const { ports } = server;
      // Written right after the ports line, on the other stream: it may arrive a moment later.
      for (let i = 0; i < 100 && !server.stderr().includes('listening:'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(server.stderr()).toContain(
        `listening: management 127.0.0.1:${ports.management}, xds 127.0.0.1:${ports.xds} (mutual TLS), gateway 127.0.0.1:${ports.gateway}, gateway admin 127.0.0.1:${ports.gatewayAdmin}`,
      );
    } finally {
      await server.stop();
    }
  });

  it('keeps the platform CA under DATA_DIR/pki, owner-only, and the same one across restarts', () => {
    const pki = join(dataDir, 'pki');
    expect(statSync(pki).mode & 0o777).toBe(0o700);
    for (const file of ['ca.crt', 'ca.key', 'server.crt', 'server.key']) expect(statSync(join(pki, file)).mode & 0o777).toBe(0o600);
    const server = new X509Certificate(readFileSync(join(pki, 'server.crt')));
    expect(server.verify(new X509Certificate(readFileSync(join(pki, 'ca.crt'))).publicKey)).toBe(true);
    expect(server.subjectAltName).toContain('IP Address:127.0.0.1');
  });

  it('refuses to start with plaintext xDS on a non-loopback address', async () => {
    await expect(startServerProcess({ ...env, XDS_PLAINTEXT: 'true', XDS_HOST: '0.0.0.0' })).rejects.toThrow(/XDS_PLAINTEXT=true is allowed only when XDS_HOST is a loopback address/);
  });
});

describe('npm run gateway', { timeout: 120_000 }, () => {
  it('refuses to start without a client certificate unless plaintext is chosen', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/gateway-main.ts'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', GATEWAY_PORT: '0', GATEWAY_ADMIN_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(err).toContain('XDS_CLIENT_CERT_FILE, XDS_CLIENT_KEY_FILE and XDS_CA_CERT_FILE are required');
  });
});
