import { request } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../helpers/rest.ts';
import { adminAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { rawRequest } from '../../helpers/raw-http.ts';

// The HTTP layer in front of yoga does not touch the database driver: one driver is enough here.
const driver = 'pglite';

const portOf = (t: TestPlatform) => t.platform.ports.management;

/** POSTs /graphql as JSON with the given headers; answers the status, headers and parsed body. */
async function postGraphql(t: TestPlatform, query: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${t.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: JSON.stringify({ query }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] } };
}

async function applicationNames(t: TestPlatform): Promise<string[]> {
  const res = await t.graphql<{ applications: { nodes: { name: string }[] } }>('{ applications(first: 100) { nodes { name } } }');
  return res.data!.applications.nodes.map((a) => a.name);
}

describe('/graphql before yoga: authentication, CSRF, limits', () => {
  let t: TestPlatform;
  let consumer: string;
  beforeAll(async () => {
    t = await startTestPlatform(driver, { embeddedGateway: false, gatewayAdminPort: null });
    consumer = await createUser(t, 'hardening-consumer', 'consumer');
  }, 120_000);
  afterAll(async () => {
    await t.close();
  });

  it('answers an anonymous 1 MiB document 401 while the client is still sending it', async () => {
    const total = 1024 * 1024;
    const { status, sent } = await new Promise<{ status: number; sent: number }>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: portOf(t),
        method: 'POST',
        path: '/graphql',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': String(total) },
      });
      let sent = 0;
      req.on('response', (res) => {
        resolve({ status: res.statusCode ?? 0, sent });
        req.destroy();
      });
      req.on('error', reject);
      // The first 16 KiB only: the answer must come without the rest of the document.
      const first = Buffer.from(`{"query":"{ ${'a '.repeat(8000)}`);
      sent = first.length;
      req.write(first);
    });
    expect(status).toBe(401);
    expect(sent).toBeLessThan(total / 10);
  });

  it('answers an anonymous chunked upload 401 without reading it to the end', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: portOf(t), method: 'POST', path: '/graphql', agent: false, headers: { 'content-type': 'application/json' } });
      req.on('response', (res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.write('{"query":"{ __typename');
    });
    expect(status).toBe(401);
  });

  it('answers 401 with the GraphQL error shape and a Basic challenge, and keeps a small body\'s connection', async () => {
    const res = await rawRequest(portOf(t), { method: 'POST', path: '/graphql', headers: { 'content-type': 'application/json', connection: 'keep-alive' }, body: '{"query":"{ __typename }"}' });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text)).toEqual({ errors: [{ message: 'Authentication required', extensions: { code: 'UNAUTHENTICATED' } }] });
    expect(res.headers['www-authenticate']).toMatch(/^Basic /);
    expect(res.headers.connection).not.toBe('close');
  });

  it('refuses form-urlencoded and text/plain mutations with 415 and runs nothing', async () => {
    const mutation = 'mutation { createApplication(input: { name: "csrf-app" }) { __typename } }';
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', `query=${encodeURIComponent(mutation)}`],
      ['text/plain', JSON.stringify({ query: mutation })],
      ['multipart/form-data; boundary=x', `--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query: mutation })}\r\n--x--\r\n`],
      ['application/graphql', mutation],
    ] as const) {
      const res = await fetch(`${t.baseUrl}/graphql`, { method: 'POST', headers: { authorization: adminAuth, 'content-type': type }, body });
      expect(res.status, type).toBe(415);
      expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
    expect(await applicationNames(t)).not.toContain('csrf-app');
  });

  it('refuses a mutation sent with GET and runs nothing', async () => {
    const query = encodeURIComponent('mutation { createApplication(input: { name: "get-app" }) { __typename } }');
    const res = await fetch(`${t.baseUrl}/graphql?query=${query}`, { headers: { authorization: adminAuth, accept: 'application/json' } });
    expect(res.status).toBe(405);
    expect(await applicationNames(t)).not.toContain('get-app');
  });

  it('still answers an authenticated JSON POST and an authenticated GET query', async () => {
    expect((await postGraphql(t, '{ __typename }', { authorization: adminAuth })).body).toEqual({ data: { __typename: 'Query' } });
    const res = await fetch(`${t.baseUrl}/graphql?query=${encodeURIComponent('{ __typename }')}`, { headers: { authorization: adminAuth, accept: 'application/json' } });
    expect(res.status).toBe(200);
  });

  it('refuses more than 15 aliases with 400', async () => {
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `a${i}: api(id: "QXBpOm5vbmU=") { handle }`).join(' ');
    expect((await postGraphql(t, `{ ${fields(15)} }`, { authorization: adminAuth })).status).toBe(200);
    const res = await postGraphql(t, `{ ${fields(16)} }`, { authorization: adminAuth });
    expect(res.status).toBe(400);
    expect(res.body.errors![0]!.message).toMatch(/Aliases limit of 15 exceeded/);
  });

  it('refuses documents over 2000 tokens with 400, deep ones included', async () => {
    const long = await postGraphql(t, `{ ${'__typename '.repeat(2001)} }`, { authorization: adminAuth });
    expect(long.status).toBe(400);
    expect(long.body.errors![0]!.message).toMatch(/Token limit of 2000 exceeded/);
    const deep = await postGraphql(t, `{ ${'apis { nodes { '.repeat(5000)} }`, { authorization: adminAuth });
    expect(deep.status).toBe(400);
    expect(deep.body.errors![0]!.message).toMatch(/Token limit/);
  });

  it('refuses documents deeper than 12 with 400', async () => {
    const query = '{ apis { nodes { plans { api { plans { api { plans { api { plans { api { plans { api { handle } } } } } } } } } } } } }';
    const res = await postGraphql(t, query, { authorization: adminAuth });
    expect(res.status).toBe(400);
    expect(res.body.errors![0]!.message).toMatch(/depth/i);
  });

  it('gives a consumer no field suggestions and no introspection, and an admin both', async () => {
    const typo = '{ applicationz { nodes { name } } }';
    const forConsumer = await postGraphql(t, typo, { authorization: consumer });
    expect(forConsumer.status).toBe(400);
    expect(JSON.stringify(forConsumer.body)).not.toMatch(/Did you mean/);
    const forAdmin = await postGraphql(t, typo, { authorization: adminAuth });
    expect(forAdmin.body.errors![0]!.message).toMatch(/Did you mean .*"applications"/);

    const introspection = '{ __schema { types { name } } }';
    // The admin's run first: its cached validation must not answer the consumer.
    expect((await postGraphql(t, introspection, { authorization: adminAuth })).status).toBe(200);
    const refused = await postGraphql(t, introspection, { authorization: consumer });
    expect(refused.status).toBe(400);
    expect(refused.body.errors![0]!.message).toMatch(/introspection/i);
    expect((await postGraphql(t, '{ __typename }', { authorization: consumer })).status).toBe(200);
  });
});

const preflight = (t: TestPlatform, origin: string) =>
  fetch(`${t.baseUrl}/graphql`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
  });
const allowHeaders = (headers: Headers) => [...headers.keys()].filter((name) => name.startsWith('access-control-allow-'));

describe('/graphql CORS', () => {
  const allowed = 'https://console.example.com';
  let open: TestPlatform;
  let listed: TestPlatform;
  beforeAll(async () => {
    open = await startTestPlatform(driver, { embeddedGateway: false, gatewayAdminPort: null });
    listed = await startTestPlatform(driver, { corsOrigins: [allowed], embeddedGateway: false, gatewayAdminPort: null });
  }, 180_000);
  afterAll(async () => {
    await open?.close();
    await listed?.close();
  });

  it('sends no CORS headers at all without CORS_ORIGINS, to preflights and requests alike', async () => {
    expect(allowHeaders((await preflight(open, 'https://evil.example')).headers)).toEqual([]);
    const res = await postGraphql(open, '{ __typename }', { authorization: adminAuth, origin: 'https://evil.example' });
    expect(res.status).toBe(200);
    expect(allowHeaders(res.headers)).toEqual([]);
  });

  it('allows a listed origin with credentials', async () => {
    const res = await preflight(listed, allowed);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(allowed);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    const post = await postGraphql(listed, '{ __typename }', { authorization: adminAuth, origin: allowed });
    expect(post.headers.get('access-control-allow-origin')).toBe(allowed);
  });

  it('gives another origin nothing: its Origin is never reflected', async () => {
    expect(allowHeaders((await preflight(listed, 'https://evil.example')).headers)).toEqual([]);
    const post = await postGraphql(listed, '{ __typename }', { authorization: adminAuth, origin: 'https://evil.example' });
    expect(allowHeaders(post.headers)).toEqual([]);
  });
});

describe('/graphql parser stack overflow', () => {
  let t: TestPlatform;
  const lines: { level: number; msg: string; count?: number }[] = [];
  beforeAll(async () => {
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    // Tokens unbounded here, so the document reaches the parser's recursion limit.
    t = await startTestPlatform(driver, { graphqlLimits: { maxTokens: 10_000_000 }, embeddedGateway: false, gatewayAdminPort: null }, { logger });
  }, 120_000);
  afterAll(async () => {
    await t.close();
  });

  it('answers 400 per deep document and logs one warning for the burst, no error', async () => {
    lines.length = 0;
    for (let i = 0; i < 5; i++) {
      // A different depth each time: a repeated document would be answered from yoga's parse-error cache.
      const depth = 60_000 + i;
      const res = await postGraphql(t, `{ ${'a { '.repeat(depth)}b${' }'.repeat(depth)} }`, { authorization: adminAuth });
      expect(res.status).toBe(400);
      expect(res.body.errors![0]!.message).toBe('Syntax Error: the document is nested too deeply.');
    }
    const overflowLogs = lines.filter((l) => /nested beyond the parser stack/.test(l.msg));
    expect(overflowLogs).toHaveLength(1);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  });
});
