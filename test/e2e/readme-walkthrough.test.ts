import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCredentials, startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

const run = promisify(execFile);

/** A free loopback port for the walkthrough's own upstream server. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The ```bash blocks of the README's "## Walkthrough" section, in order: what a reader copy-pastes. */
function walkthroughScript(): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('## Walkthrough');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const blocks = [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  return blocks.join('\n');
}

describe('README walkthrough', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('pglite');
  });
  afterAll(async () => {
    await t.close();
  });

  it('creates an API, publishes a plan, subscribes an application and calls the API with its key, as written', async () => {
    const script = walkthroughScript();
    expect(script).toContain('createApi');
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], {
      env: {
        PATH: process.env.PATH ?? '',
        APIP: t.baseUrl,
        APIP_AUTH: `${adminCredentials.username}:${adminCredentials.password}`,
        GATEWAY: `http://127.0.0.1:${t.platform.ports.gateway}`,
        UPSTREAM_PORT: String(await freePort()),
      },
    });
    expect(stdout).toMatch(/^API: [A-Za-z0-9+/=]+$/m); // a Relay global id
    expect(stdout).toMatch(/^PUBLISHED$/m);
    expect(stdout).toMatch(/^ACCEPTED$/m);
    expect(stdout).toMatch(/^API key \(shown once\): apip_[0-9a-f]{64}$/m);
    expect(stdout).toContain('"handle":"reading-list-api-v1.0"');
    expect(stdout).toMatch(/^without a key: 401$/m);
    const echoed = /^(\{"path".*\})$/m.exec(stdout)?.[1] ?? '{}';
    const seen = JSON.parse(echoed) as { path: string; apiKeySeen: boolean; plan: string | null };
    expect(seen.path).toBe('/books/42');
    expect(seen.apiKeySeen).toBe(false);
    expect(seen.plan).toMatch(/^pln_/);
  });
});
