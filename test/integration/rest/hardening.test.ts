import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../../helpers/database.ts';
import { adminAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { rawRequest } from '../../helpers/raw-http.ts';
import { type RestClient, restClient, restPrefix } from '../../helpers/rest.ts';
import { seedRestApi } from '../../helpers/rest-seed.ts';

describe.each(shapeDrivers)('REST input hardening (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  const handle = 'guarded-api';
  beforeAll(async () => {
    t = await startTestPlatform(driver);
    rest = restClient(t);
    expect((await rest.post('/rest-apis', { ...seedRestApi, metadata: { name: handle } })).status).toBe(201);
  });
  afterAll(async () => {
    await t.close();
  });

  const port = () => t.platform.ports.management;
  const send = (method: string, path: string, body?: string, contentType?: string) =>
    rawRequest(port(), { method, path, body, headers: { authorization: adminAuth, ...(contentType ? { 'content-type': contentType } : {}) } });
  const apiStillThere = async () => expect((await rest.get(`/rest-apis/${handle}`)).status).toBe(200);

  it('refuses dot segments in every spelling with 400 and never resolves them: the API stays', async () => {
    for (const tail of ['..', '.', '%2e%2e', '%2E%2E', '.%2e', '%2E.', '%2e']) {
      for (const prefix of [restPrefix, '']) {
        const path = `${prefix}/rest-apis/${handle}/api-keys/${tail}`;
        const res = await send('DELETE', path);
        expect(res.status, path).toBe(400);
        expect(JSON.parse(res.text).message, path).toMatch(/\. or \.\. segments/);
      }
    }
    await apiStillThere();
  });

  it('refuses empty segments, encoded slashes and backslashes with 400', async () => {
    for (const path of [
      `${restPrefix}//rest-apis/${handle}`,
      `${restPrefix}/rest-apis//${handle}`,
      `${restPrefix}/rest-apis/${handle}%2Fapi-keys`,
      `${restPrefix}/rest-apis/${handle}%2fapi-keys`,
      `${restPrefix}/rest-apis/${handle}%5C..`,
      `${restPrefix}/rest-apis/${handle}\\..`,
    ]) {
      expect((await send('DELETE', path)).status, path).toBe(400);
    }
    await apiStillThere();
    // One trailing slash is still the same resource.
    expect((await send('GET', `${restPrefix}/rest-apis/${handle}/`)).status).toBe(200);
  });

  it('refuses bodies in types it does not speak with 415, before reading them', async () => {
    const body = JSON.stringify({ ...seedRestApi, metadata: { name: 'smuggled-api' } });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x', undefined]) {
      const res = await send('POST', `${restPrefix}/rest-apis`, body, type);
      expect(res.status, String(type)).toBe(415);
      expect(JSON.parse(res.text).message).toMatch(/Content-Type must be application\/json or a YAML type/);
    }
    expect((await rest.get('/rest-apis/smuggled-api')).status).toBe(404);
  });

  it('still takes JSON with a charset and YAML in its three types', async () => {
    const json = await send('POST', `${restPrefix}/rest-apis`, JSON.stringify({ ...seedRestApi, metadata: { name: 'json-charset-api' }, spec: { ...seedRestApi.spec, displayName: 'Json-Charset', context: '/json-charset' } }), 'application/json; charset=utf-8');
    expect(json.status, json.text).toBe(201);
    for (const [i, type] of ['application/yaml', 'application/x-yaml', 'text/yaml'].entries()) {
      const yaml = toYaml({ ...seedRestApi, metadata: { name: `yaml-api-${i}` }, spec: { ...seedRestApi.spec, displayName: `Yaml-${i}`, context: `/yaml-${i}` } });
      const res = await send('POST', `${restPrefix}/rest-apis`, yaml, type);
      expect(res.status, res.text).toBe(201);
    }
  });

  it('refuses deeply nested YAML with 400 on field body, before the parser sees it', async () => {
    for (const deep of ['['.repeat(10_000) + ']'.repeat(10_000), `${'- '.repeat(5_000)}x`, `a: ${'{b: '.repeat(70)}1${'}'.repeat(70)}`]) {
      const started = performance.now();
      const res = await send('POST', `${restPrefix}/rest-apis`, deep, 'application/yaml');
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text).errors).toEqual([{ field: 'body', message: expect.stringMatching(/nested too deeply/) }]);
      // 10,000 brackets took the yaml parser out of memory before this check.
      expect(performance.now() - started).toBeLessThan(5_000);
    }
  });

  it('refuses YAML over 128 KiB with 413 and an alias bomb with 400', async () => {
    const big = `description: "${'x'.repeat(130 * 1024)}"\n`;
    expect((await send('POST', `${restPrefix}/rest-apis`, big, 'application/yaml')).status).toBe(413);
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 60; i++) lines.push(`a${i}: &a${i} [*${i === 1 ? 'a' : `a${i - 1}`},*${i === 1 ? 'a' : `a${i - 1}`}]`);
    const bomb = await send('POST', `${restPrefix}/rest-apis`, lines.join('\n'), 'application/yaml');
    expect(bomb.status).toBe(400);
  });

  it('answers an anonymous request 401 without reading its large body', async () => {
    const res = await rawRequest(port(), {
      method: 'POST',
      path: `${restPrefix}/rest-apis`,
      headers: { 'content-type': 'application/json' },
      body: '{"x":"' + 'y'.repeat(64 * 1024) + '"}',
    });
    expect(res.status).toBe(401);
    expect(res.headers.connection).toBe('close');
  });
});
