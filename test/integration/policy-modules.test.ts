import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

const manifest = JSON.parse(readFileSync(new URL('../../policies/build/manifest.json', import.meta.url), 'utf8')) as Record<
  string,
  { file: string; sha256: string; size: number }
>;

describe('GET /policies/<name>.wasm', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('pglite');
  });
  afterAll(async () => {
    await t.close();
  });

  it.each(Object.entries(manifest))('serves %s byte-identical to the build and to the manifest hash', async (name, entry) => {
    const res = await fetch(`${t.baseUrl}/policies/${name}.wasm`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/wasm');
    const served = Buffer.from(await res.arrayBuffer());
    const built = readFileSync(new URL(`../../policies/build/${entry.file}`, import.meta.url));
    expect(served.equals(built)).toBe(true);
    expect(served.length).toBe(entry.size);
    expect(createHash('sha256').update(served).digest('hex')).toBe(entry.sha256);
    expect(WebAssembly.validate(served)).toBe(true);
  });

  it('answers 404 for a module that does not exist', async () => {
    const res = await fetch(`${t.baseUrl}/policies/nope.wasm`);
    expect(res.status).toBe(404);
  });
});
