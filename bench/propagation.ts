import { randomBytes } from 'node:crypto';
import { loadPlatformKeys } from '../server/platform-keys.ts';
/**
 * Propagation delay (issue 5: <= 200 ms): from a management mutation's HTTP response to the embedded gateway
 * serving the change, polling the gateway every BENCH_POLL_MS (default 3) over a keep-alive connection.
 *  - create: GraphQL `createApi` (a new API, one route) -> first 200 through the gateway;
 *  - revoke: REST `DELETE /rest-apis/{id}/api-keys/{name}` of a v0.9 key -> first 401 for that key.
 * BENCH_RUNS runs of each (default 50). Every stage of the snapshot build is timed (the real pipeline, wrapped):
 * commit (change event) -> build start (debounce) -> load model -> resolve JWKS -> translate -> strict proto
 * check -> publish -> first answer showing the change. Median and p99 per stage.
 * Run: npx tsx bench/propagation.ts   (PGlite in memory; with DATABASE_URL=postgres://… a fresh database beside that
 * one, dropped at the end)
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { pino } from 'pino';
import { defaultSettings } from '../server/domain/context.ts';
import { createPlatform } from '../server/platform.ts';
import { loadPolicyModules } from '../server/policy-modules.ts';
import { createSnapshotPipeline } from '../server/xds/pipeline.ts';
import type { SnapshotPipeline } from '../server/xds/runner.ts';
import type { DeploymentModel } from '../server/domain/deployment-model.ts';
import { createTestDatabase } from '../test/helpers/database.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 50);
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 3);
const admin = { username: 'admin', password: 'bench-password-1' };
const auth = `Basic ${Buffer.from(`${admin.username}:${admin.password}`).toString('base64')}`;

type Stage = 'buildStart' | 'loaded' | 'jwks' | 'translated' | 'validated';
interface Build { stamps: Partial<Record<Stage, number>>; publishedAt?: number }
const builds: Build[] = [];
let current: Build | null = null;
const changeTimes: number[] = [];
const publishTimes: number[] = [];

/** The real pipeline with a timestamp after each stage. */
function timedPipeline(inner: SnapshotPipeline<DeploymentModel>): SnapshotPipeline<DeploymentModel> {
  return {
    loadModel: async (db, now) => {
      current = { stamps: { buildStart: performance.now() } };
      builds.push(current);
      const model = await inner.loadModel(db, now);
      current.stamps.loaded = performance.now();
      return model;
    },
    resolveJwks: async (model) => {
      const resolved = inner.resolveJwks ? await inner.resolveJwks(model) : { model, problems: [] };
      if (current) current.stamps.jwks = performance.now();
      return resolved;
    },
    translate: (model) => {
      const out = inner.translate(model);
      if (current) current.stamps.translated = performance.now();
      return out;
    },
    validate: (resources) => {
      const out = inner.validate(resources);
      if (current) current.stamps.validated = performance.now();
      return out;
    },
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const upstream = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

const database = await createTestDatabase(process.env.DATABASE_URL ? 'postgres' : 'pglite');
const managementPort = await freePort();
// The timed pipeline needs the platform's keys before the platform exists: both get the same given keys.
const keySources = { keyDigestSecret: randomBytes(32), secretsKey: randomBytes(32), dataDir: database.dataDir };
const platform = await createPlatform(
  {
    managementHost: '127.0.0.1', xdsHost: '127.0.0.1', gatewayHost: '127.0.0.1', gatewayAdminHost: '127.0.0.1', managementPort, gatewayPort: 0, xdsPort: 0, embeddedGateway: true, gatewayAdminPort: null,
    dataDir: database.dataDir, databaseUrl: database.url, admin, logLevel: 'silent', settings: { ...defaultSettings },
    keyDigestSecret: keySources.keyDigestSecret, secretsKey: keySources.secretsKey,
  },
  {
    logger: pino({ level: 'silent' }),
    snapshotPipeline: timedPipeline(createSnapshotPipeline({
      policyModules: loadPolicyModules(), controlPlaneUrl: `http://127.0.0.1:${managementPort}`, listenerPort: 0, keys: loadPlatformKeys(keySources),
    })) as SnapshotPipeline<unknown>,
  },
);
platform.changes.subscribe(() => changeTimes.push(performance.now()));
platform.snapshots.subscribe(() => {
  const at = performance.now();
  publishTimes.push(at);
  if (current) current.publishedAt = at;
});
const base = `http://127.0.0.1:${managementPort}`;
const gatewayPort = platform.ports.gateway ?? 0;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function gatewayStatus(path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: gatewayPort, path, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls until `path` answers `status`; returns the instant of that answer. */
async function pollUntil(path: string, status: number, headers: Record<string, string> = {}): Promise<number> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    if ((await gatewayStatus(path, headers)) === status) return performance.now();
    if (performance.now() > deadline) throw new Error(`${path} never answered ${status}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function call(method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: auth, 'content-type': 'application/json', accept: 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

interface Run {
  responseAt: number;
  servedAt: number;
  changeAt: number;
  build: Build | undefined;
}

/** The first change event after `since`, and the first build that started after it. */
function runOf(since: number, responseAt: number, servedAt: number): Run {
  const changeAt = changeTimes.find((t) => t >= since) ?? Number.NaN;
  const build = builds.find((b) => (b.stamps.buildStart ?? 0) >= changeAt);
  return { responseAt, servedAt, changeAt, build };
}

async function createRuns(): Promise<Run[]> {
  const runs: Run[] = [];
  for (let i = 0; i < RUNS + 3; i++) {
    const started = performance.now();
    const answer = (await call('POST', '/graphql', {
      query: 'mutation($input: CreateApiInput!) { createApi(input: $input) { __typename } }',
      // OPEN: the measure is "created -> first 200", and a PLANS API (the default) admits nobody until a plan is published.
      variables: { input: { metadata: { name: `prop-${i}` }, accessMode: 'OPEN', spec: { displayName: `prop-${i}`, version: 'v1', context: `/prop-${i}`, upstream: { main: { url: upstreamUrl } }, operations: [{ method: 'GET', path: '/ping' }] } } },
    })) as { data?: { createApi?: { __typename: string } } };
    const responseAt = performance.now();
    if (answer.data?.createApi?.__typename !== 'CreateApiPayload') throw new Error(JSON.stringify(answer));
    const servedAt = await pollUntil(`/prop-${i}/ping`, 200);
    if (i >= 3) runs.push(runOf(started, responseAt, servedAt)); // 3 warm-up runs (module fetch, JIT)
  }
  return runs;
}

async function revokeRuns(): Promise<Run[]> {
  await call('POST', '/api/management/v0.9/rest-apis', {
    apiVersion: 'gateway.api-platform.wso2.com/v1alpha1', kind: 'RestApi', metadata: { name: 'prop-keyed' },
    spec: { displayName: 'prop-keyed', version: 'v1', context: '/prop-keyed', upstream: { main: { url: upstreamUrl } },
      policies: [{ name: 'api-key', version: 'v1', params: { key: 'x-api-key' } }], operations: [{ method: 'GET', path: '/ping' }] },
  });
  const runs: Run[] = [];
  for (let i = 0; i < RUNS + 3; i++) {
    // Keys per user per API are capped (API_KEY_QUOTA_PER_USER); revoked keys do not count.
    const created = (await call('POST', '/api/management/v0.9/rest-apis/prop-keyed/api-keys', { name: `k-${i}` })) as { apiKey: { apiKey: string } };
    const headers = { 'x-api-key': created.apiKey.apiKey };
    await pollUntil('/prop-keyed/ping', 200, headers);
    const started = performance.now();
    await call('DELETE', `/api/management/v0.9/rest-apis/prop-keyed/api-keys/k-${i}`);
    const responseAt = performance.now();
    const servedAt = await pollUntil('/prop-keyed/ping', 401, headers);
    if (i >= 3) runs.push(runOf(started, responseAt, servedAt));
  }
  return runs;
}

function quantile(values: number[], q: number): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

function report(name: string, runs: Run[]): void {
  const rows: [string, number[]][] = [
    ['response -> gateway serves it (the figure)', runs.map((r) => r.servedAt - r.responseAt)],
    ['  commit (change event) -> HTTP response', runs.map((r) => r.responseAt - r.changeAt)],
    ['  commit -> build start (debounce, queue)', runs.map((r) => (r.build?.stamps.buildStart ?? Number.NaN) - r.changeAt)],
    ['  load model', runs.map((r) => (r.build?.stamps.loaded ?? Number.NaN) - (r.build?.stamps.buildStart ?? Number.NaN))],
    ['  resolve JWKS', runs.map((r) => (r.build?.stamps.jwks ?? Number.NaN) - (r.build?.stamps.loaded ?? Number.NaN))],
    ['  translate', runs.map((r) => (r.build?.stamps.translated ?? Number.NaN) - (r.build?.stamps.jwks ?? Number.NaN))],
    ['  strict proto check', runs.map((r) => (r.build?.stamps.validated ?? Number.NaN) - (r.build?.stamps.translated ?? Number.NaN))],
    ['  publish (cache, subscribers)', runs.map((r) => (r.build?.publishedAt ?? Number.NaN) - (r.build?.stamps.validated ?? Number.NaN))],
    ['  publish -> first answer showing it', runs.map((r) => r.servedAt - (r.build?.publishedAt ?? Number.NaN))],
  ];
  console.log(`\n${name} (${runs.length} runs, poll every ${POLL_MS} ms)`);
  console.log(`${'stage'.padEnd(46)} ${'median ms'.padStart(10)} ${'p99 ms'.padStart(10)}`);
  for (const [label, values] of rows) {
    console.log(`${label.padEnd(46)} ${quantile(values, 0.5).toFixed(1).padStart(10)} ${quantile(values, 0.99).toFixed(1).padStart(10)}`);
  }
}

try {
  console.log(`node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}, ${platform.database.driver}`);
  report('create an API (GraphQL createApi) -> first 200', await createRuns());
  report('revoke a v0.9 key (REST DELETE) -> first 401', await revokeRuns());
  console.log('\ntarget (issue 5): <= 200 ms from the response to the gateway serving the change');
} finally {
  agent.destroy();
  await platform.close();
  await database.drop();
  upstream.close();
}
