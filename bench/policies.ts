// Host-side time per request of each policy module (request headers + response headers + done, through the
// embedded proxy-wasm host), median and p99 over 100k requests, and module sizes. Run: npx tsx bench/policies.ts
import { createHash, generateKeyPairSync, pbkdf2Sync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT } from 'jose';
import { createManualClock } from '../server/gateway/proxy-wasm/clock.ts';
import type { IncomingMessage } from 'node:http';
import { ChainBatches, type ChainFilter, FilterChainRun } from '../server/gateway/filter-chain.ts';
import { RequestTrace } from '../server/gateway/tracing.ts';
import { createTracing } from '../server/telemetry/tracing.ts';
import { HeaderMap } from '../server/gateway/proxy-wasm/header-map.ts';
import type { Plugin } from '../server/gateway/proxy-wasm/plugin.ts';
import type { HeaderList, PolicyLogger } from '../server/gateway/proxy-wasm/types.ts';
import { loadPolicy, policiesBuildDir } from '../test/helpers/policies.ts';
import { keyDigest } from '../server/domain/secrets.ts';
import { compileCondition } from '../server/domain/conditions/index.ts';

const ITERATIONS = 100_000;
const WARMUP = 10_000;
const ROUTE = 'reading-list-api-v1.0/GET/books/{id}';
const key = `apip_${createHash('sha256').update('bench').digest('hex')}`;
const digestKey = createHash('sha256').update('bench digest key').digest();
const sha = (text: string) => keyDigest(digestKey, text);

const silent: PolicyLogger = { level: 'warn', trace: () => {}, debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

interface Case {
  name: string;
  policy: string;
  configuration: unknown;
  headers: HeaderList;
  /** Request method. @default 'GET' */
  method?: string;
  /** The module answers the request itself (respond, redirect, a preflight): a local reply is the expected outcome. */
  replies?: true;
}

// 1000 keys in the set, as a mid-sized API would have.
const keys = Array.from({ length: 1000 }, (_, i) => ({ sha256: sha(`other-${i}`), status: 'active', applicationId: `app-${i}` }));
keys.push({ sha256: sha(key), status: 'active', applicationId: 'app-bench' });

const cases: Case[] = [
  {
    name: 'api-key',
    policy: 'api-key',
    configuration: { stripIdentityHeaders: true, digestKey: digestKey.toString('hex'), keySets: { api: keys }, routes: { [ROUTE]: { keySets: ['api'], key: 'x-api-key' } } },
    headers: [['x-api-key', key]],
  },
  {
    name: 'set-headers',
    policy: 'set-headers',
    configuration: {
      routes: { [ROUTE]: { request: { headers: [{ name: 'x-gateway', value: 'v1' }] }, response: { headers: [{ name: 'x-env', value: 'dev' }] } } },
    },
    headers: [],
  },
  {
    name: 'throttle',
    policy: 'throttle',
    configuration: { routes: { [ROUTE]: { limits: [{ requests: 1_000_000_000, windowMs: 60_000 }] } } },
    headers: [],
  },
  {
    // advanced-ratelimit as the translator writes it: an API-level stage, then a per-user quota keyed by a header.
    name: 'throttle advanced',
    policy: 'throttle',
    configuration: {
      routes: {
        [ROUTE]: {
          // One advanced-ratelimit attachment as the translator writes it: two quotas keyed by a header, the
          // reference's headers only (no RateLimit-* trio).
          stages: [
            {
              limits: [
                { requests: 1_000_000_000, windowMs: 3_600_000, scope: 'route', quota: 'per-user', keyBy: [{ type: 'header', name: 'x-user-id' }] },
                { requests: 1_000_000_000, windowMs: 60_000, scope: 'route', quota: 'burst', keyBy: [{ type: 'header', name: 'x-user-id' }] },
              ],
              reply: { status: 429, body: '{}', contentType: 'application/json' },
              headers: { xRateLimit: true, ietf: true, retryAfter: true, legacy: false },
            },
          ],
        },
      },
    },
    headers: [['x-user-id', 'alice']],
  },
  {
    name: 'subscription-validation',
    policy: 'subscription-validation',
    configuration: {
      digestKey: digestKey.toString('hex'),
      plans: { gold: { name: 'Gold', throttleLimitCount: 1_000_000_000, throttleLimitUnit: 'Hour' } },
      apis: { api: { subscriptions: [{ id: 'sub', applicationId: 'app', tokenSha256: sha('token'), status: 'ACTIVE', plan: 'gold' }] } },
      routes: { [ROUTE]: { api: 'api' } },
    },
    headers: [['subscription-key', 'token']],
  },
];

// jwt: RS256 with a 2048-bit key. "uncached" disables the token cache (cacheSize 0), so every request decodes the
// token and verifies its signature; "cached" presents the same token again, as a client between refreshes does.
const jwtKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwtToken = await new SignJWT({ sub: 'bench-user', azp: 'bench-client', scope: 'books:read', iss: 'https://idp.bench.test', aud: 'bench' })
  .setProtectedHeader({ alg: 'RS256', kid: 'bench' })
  .setExpirationTime(Math.floor(Date.now() / 1000) + 24 * 3600)
  .sign(jwtKey.privateKey);
function jwtConfiguration(cacheSize: number): unknown {
  return {
    cacheSize,
    keySets: { idp: { keys: [{ ...jwtKey.publicKey.export({ format: 'jwk' }), kid: 'bench' }] } },
    clients: { bench: { 'bench-client': { applicationId: 'app-bench', subscriptionId: 'sub-bench', plan: 'Gold' } } },
    routes: {
      [ROUTE]: {
        keySets: ['idp'], algorithms: ['RS256'], issuer: 'https://idp.bench.test', audience: 'bench', scopes: ['books:read'],
        clients: 'bench',
      },
    },
  };
}
// plan: a keyless plan chosen by a header rule; basic-auth: a cached credential (PBKDF2 ran once, in warm-up).
const basicAuthSalt = createHash('sha256').update('salt').digest().subarray(0, 16);
const basicAuthHash = `pbkdf2-sha256$1000$${basicAuthSalt.toString('base64url')}$${pbkdf2Sync('bench-pw', basicAuthSalt, 1000, 32, 'sha256').toString('base64url')}`;
cases.push(
  {
    name: 'plan keyless rule',
    policy: 'plan',
    configuration: {
      plans: { key: { security: 'API_KEY' }, partner: { security: 'KEYLESS', rule: 'header.x-partner == "acme"' }, free: { security: 'KEYLESS' } },
      routes: { [ROUTE]: { plans: ['key', 'partner', 'free'], challenges: ['ApiKey header="x-api-key"'] } },
    },
    headers: [['x-partner', 'acme']],
  },
  {
    name: 'basic-auth cached',
    policy: 'basic-auth',
    configuration: { users: { staff: [{ username: 'bench', hash: basicAuthHash }] }, routes: { [ROUTE]: { users: 'staff' } } },
    headers: [['authorization', `Basic ${Buffer.from('bench:bench-pw').toString('base64')}`]],
  },
);
// condition: the reference's header-value condition behind a method test (every request reads the method, the
// headers and evaluates both sides), and a path regex; set-headers gated by a verdict (`when`).
const compiled = (text: string) => {
  const check = compileCondition(text);
  if (!check.ok) throw new Error(check.message);
  return check.compiled;
};
cases.push(
  {
    name: 'condition',
    policy: 'condition',
    configuration: {
      stripIdentityHeaders: true,
      routes: {
        [ROUTE]: {
          conditions: [
            compiled('request.Method in ["POST", "PUT", "DELETE"] || "x-tier" in request.Headers && request.Headers["x-tier"][0] == "premium"'),
            compiled('request.Path.matches("^/books/[0-9]+$")'),
          ],
        },
      },
    },
    headers: [['x-tier', 'premium']],
  },
  {
    name: 'set-headers gated',
    policy: 'set-headers',
    configuration: { when: { [ROUTE]: 1 }, routes: { [ROUTE]: { request: { headers: [{ name: 'x-gateway', value: 'v1' }] } } } },
    headers: [['x-apip-conditions', '01']],
  },
);
// respond, redirect and a cors preflight answer locally; cors on an actual request adds its headers to the response.
const corsEntry = {
  allowedOrigins: ['http://example.com', 'https://*.example.com'], allowedMethods: ['GET', 'POST'], allowedHeaders: ['Content-Type'],
  exposedHeaders: ['X-Custom-Header'], allowCredentials: true, maxAge: 600,
};
cases.push(
  {
    name: 'respond',
    policy: 'respond',
    configuration: { routes: { [ROUTE]: { statusCode: 200, body: '{"id": 7, "title": "Mocked"}', headers: [{ name: 'content-type', value: 'application/json' }] } } },
    headers: [],
    replies: true,
  },
  { name: 'redirect', policy: 'redirect', configuration: { routes: { [ROUTE]: { statusCode: 302, hostname: 'example.org', matchedPrefix: '/books' } } }, headers: [], replies: true },
  {
    name: 'cors preflight',
    policy: 'cors',
    configuration: { routes: { [ROUTE]: corsEntry } },
    headers: [['origin', 'https://app.example.com'], ['access-control-request-method', 'POST'], ['access-control-request-headers', 'content-type']],
    method: 'OPTIONS',
    replies: true,
  },
  { name: 'cors actual request', policy: 'cors', configuration: { routes: { [ROUTE]: corsEntry } }, headers: [['origin', 'https://app.example.com']] },
);
cases.push(
  { name: 'jwt RS256 uncached', policy: 'jwt', configuration: jwtConfiguration(0), headers: [['authorization', `Bearer ${jwtToken}`]] },
  { name: 'jwt RS256 cached', policy: 'jwt', configuration: jwtConfiguration(1024), headers: [['authorization', `Bearer ${jwtToken}`]] },
);

function oneRequest(plugin: Plugin, benchCase: Pick<Case, 'headers' | 'method' | 'replies'>): void {
  const stream = plugin.createHttpContext({ routeName: ROUTE, sourceAddress: '127.0.0.1:50000' });
  const headers = new HeaderMap([
    [':method', benchCase.method ?? 'GET'], [':path', '/books/7'], [':authority', 'api.example.test'], [':scheme', 'http'],
    ['user-agent', 'bench'], ['accept', '*/*'], ...benchCase.headers,
  ]);
  const outcome = stream.onRequestHeaders(headers, true);
  if (outcome.action !== (benchCase.replies ? 'localReply' : 'continue')) throw new Error(`unexpected ${outcome.action}`);
  if (!benchCase.replies) stream.onResponseHeaders([[':status', '200'], ['content-type', 'application/json']], true);
  stream.onDone();
}

function percentile(sorted: BigInt64Array, p: number): number {
  const index = Math.min(sorted.length - 1, Math.floor(sorted.length * p));
  return Number(sorted[index] ?? 0n) / 1000;
}

const manifest = JSON.parse(readFileSync(`${policiesBuildDir}/manifest.json`, 'utf8')) as Record<string, { size: number }>;
const rows: string[] = [];
// BENCH_ONLY=throttle limits the run to one policy (for profiling).
const only = process.env['BENCH_ONLY'];
for (const benchCase of cases.filter((c) => only === undefined || c.name === only)) {
  const plugin = await loadPolicy(benchCase.policy, benchCase.configuration, { logger: silent, clock: createManualClock(Date.now()) });
  if (!plugin.isConfigured) throw new Error(`${benchCase.name}: configuration refused`);
  for (let i = 0; i < WARMUP; i++) oneRequest(plugin, benchCase);
  const samples = new BigInt64Array(ITERATIONS);
  for (let i = 0; i < ITERATIONS; i++) {
    const start = process.hrtime.bigint();
    oneRequest(plugin, benchCase);
    samples[i] = process.hrtime.bigint() - start;
  }
  samples.sort();
  const size = manifest[benchCase.policy]?.size ?? 0;
  rows.push(`| ${benchCase.name.padEnd(24)} | ${percentile(samples, 0.5).toFixed(2).padStart(10)} | ${percentile(samples, 0.99).toFixed(2).padStart(8)} | ${(size / 1024).toFixed(1).padStart(8)} |`);
  plugin.close();
}

// The chain of bench/gateway.ts (api-key + throttle + set-headers) driven as the gateway drives it, one request at a
// time: FilterChainRun's request headers, response headers, a 55-byte response body with its end, and the end of
// the streams. Inside the gateway under load the same work costs about three times this (cold CPU caches), which is
// why the gateway runs it in batches per event-loop turn (docs/gateway.md, Performance).
// The second row traces it as the gateway does with OTEL_EXPORTER_OTLP_ENDPOINT set (always_on): the server, chain,
// module and client spans made and ended; the export (batched, off the request) is left out, its spans discarded.
if (only === undefined || only === 'chain') {
  const chainPlugins = [
    await loadPolicy('api-key', { stripIdentityHeaders: true, digestKey: digestKey.toString('hex'), keySets: { api: keys }, routes: { [ROUTE]: { keySets: ['api'], key: 'x-api-key' } } }, { logger: silent }),
    await loadPolicy('throttle', { routes: { [ROUTE]: { limits: [{ requests: 1_000_000_000, windowMs: 60_000 }] } } }, { logger: silent }),
    await loadPolicy('set-headers', { routes: { [ROUTE]: { request: { headers: [{ name: 'x-gateway', value: 'v1' }] }, response: { headers: [{ name: 'x-env', value: 'bench' }] } } } }, { logger: silent }),
  ];
  const filters: ChainFilter[] = chainPlugins.map((plugin) => ({ kind: 'plugin', name: plugin.name, plugin }));
  const body = Buffer.from(JSON.stringify({ id: 42, title: 'Dune', author: 'Frank Herbert' }));
  const batches = new ChainBatches();
  const tracing = createTracing(
    { tracesEndpoint: 'http://127.0.0.1:9/v1/traces', sampler: 'always_on', ratio: 1, serviceName: 'bench' },
    { exporter: { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} } },
  );
  const incoming = { method: 'GET', url: '/books/7', headers: { host: 'api.example.test' } } as unknown as IncomingMessage;
  let isTraced = false;
  const chainRequest = (): void => {
    const trace = isTraced && tracing !== null ? new RequestTrace(tracing.tracer, incoming) : null;
    trace?.routed(ROUTE, 'reading-list-api-v1.0');
    trace?.chainStarted();
    const run = new FilterChainRun(filters, { routeName: ROUTE, clusterName: 'books' }, batches, trace);
    const request = new HeaderMap([
      [':method', 'GET'], [':path', '/books/7'], [':authority', 'api.example.test'], [':scheme', 'http'],
      ['x-api-key', key], ['x-forwarded-for', '127.0.0.1'], ['x-forwarded-proto', 'http'], ['x-request-id', 'a9d4b1f8-7c33-4a67-9d58-2c7e9f0b1a23'],
    ]);
    const outcome = run.requestHeaders(request, true);
    if (outcome instanceof Promise || outcome.action !== 'continue') throw new Error('chain: unexpected request outcome');
    if (trace !== null) {
      trace.chainEnded(outcome);
      trace.upstreamStarted('books', '127.0.0.1', 8080, ['x-request-id', 'a9d4b1f8']);
      trace.upstreamResponded(200);
    }
    const response = new HeaderMap([[':status', '200'], ['content-type', 'application/json'], ['content-length', String(body.length)]]);
    const responseOutcome = run.responseHeaders(response, false);
    if (responseOutcome instanceof Promise || responseOutcome.action !== 'continue') throw new Error('chain: unexpected response outcome');
    run.responseBody(body, true);
    run.done();
    batches.finishing.runNow();
    trace?.finished(200, { applicationId: 'app-bench', subscriptionId: null, plan: 'gold' });
  };
  for (const [label, traced] of [['chain (gateway bench)', false], ['chain, traced', true]] as const) {
    isTraced = traced;
    for (let i = 0; i < WARMUP; i++) chainRequest();
    const samples = new BigInt64Array(ITERATIONS);
    for (let i = 0; i < ITERATIONS; i++) {
      const start = process.hrtime.bigint();
      chainRequest();
      samples[i] = process.hrtime.bigint() - start;
    }
    samples.sort();
    rows.push(`| ${label.padEnd(24)} | ${percentile(samples, 0.5).toFixed(2).padStart(10)} | ${percentile(samples, 0.99).toFixed(2).padStart(8)} | ${'—'.padStart(8)} |`);
  }
  await tracing?.shutdown();
  for (const plugin of chainPlugins) plugin.close();
}

console.log(`policies: host-side time per request over ${ITERATIONS} requests (Node ${process.version})`);
console.log('| policy                   | median µs  | p99 µs   | size KB  |');
console.log('| ------------------------ | ---------- | -------- | -------- |');
console.log(rows.join('\n'));
