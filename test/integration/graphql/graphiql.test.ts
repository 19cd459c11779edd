import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';

describe('GraphiQL on /graphql', () => {
  let t: TestPlatform;
  let html: string;
  beforeAll(async () => {
    t = await startTestPlatform('pglite');
    const res = await fetch(`${t.baseUrl}/graphql`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    html = await res.text();
  });
  afterAll(async () => {
    await t.close();
  });

  it('serves the page without credentials and references no external URL', () => {
    expect(html).toContain('renderYogaGraphiQL');
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/(src|href)=["']?\/\//);
  });

  it('serves every asset the page references, with its media type', async () => {
    const referenced = [...html.matchAll(/["'](\/graphql\/assets\/[^"']+)["']/g)].map((m) => m[1]!);
    expect(referenced.length).toBeGreaterThanOrEqual(5);
    for (const path of referenced) {
      const res = await fetch(`${t.baseUrl}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toMatch(path.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
      expect((await res.arrayBuffer()).byteLength, path).toBeGreaterThan(1000);
    }
  });

  it('serves nothing else from the package folder', async () => {
    for (const path of ['/graphql/assets/../package.json', '/graphql/assets/yoga-graphiql.es.js', '/graphql/assets/%2e%2e/package.json']) {
      const res = await fetch(`${t.baseUrl}${path}`);
      expect([400, 404], path).toContain(res.status);
    }
  });

  it('does not execute a query sent with Accept: text/html', async () => {
    const res = await fetch(`${t.baseUrl}/graphql?query=${encodeURIComponent('{ __typename }')}`, { headers: { accept: 'text/html' } });
    expect(await res.text()).not.toContain('"data"');
  });
});
