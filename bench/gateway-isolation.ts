// Gateway isolation from management work (issue 15): the embedded gateway's p50/p99 alone, then while
// authenticated clients flood the control plane with CPU-heavy but legitimate GraphQL requests (documents near the
// configured token/alias limits, each reading every API with its operations). Target: p99 under flood ≤ 1.5× alone
// with worker threads; GATEWAY_WORKERS=0 (traffic on the management event loop) shows why workers exist.
// Per worker setting (BENCH_WORKERS, default `0,2`): a whole platform (server/main.ts, as `npm start`, PGlite in a
// temp DATA_DIR) and an upstream as child processes; an API with a published KEYLESS plan created over GraphQL;
// autocannon in-process, 10 connections, BENCH_SECONDS (default 10) per phase; the flood clients (BENCH_FLOOD, 4)
// in a child process, so their work does not disturb autocannon's clock. Everything on 127.0.0.1; every child is
// killed at the end, also on error.
// Run: npx tsx bench/gateway-isolation.ts   (roles `upstream` and `flood <port> <clients>` re-invoke this file)
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface AutocannonResult { latency: { p50: number; p99: number }; requests: { average: number; total: number }; errors: number; timeouts: number; non2xx: number }
/** autocannon ships no types (and @types/autocannon is not installed): the one call used here. */
const autocannon = createRequire(import.meta.url)('autocannon') as (options: { url: string; connections: number; duration: number }) => Promise<AutocannonResult>;

const rootDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const FLOOD_CLIENTS = Number(process.env.BENCH_FLOOD ?? 4);
const CONNECTIONS = 10;
const WORKER_SETTINGS = (process.env.BENCH_WORKERS ?? '0,2').split(',').map(Number)
  .filter((count, i, all) => Number.isInteger(count) && count >= 0 && all.indexOf(count) === i);
const ADMIN = { username: 'bench-admin', password: 'bench-admin-password-0123456789' };
const AUTH = `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`;
/** APIs the flood's queries read (besides the one served), each with this many operations. */
const EXTRA_APIS = 20;
const OPERATIONS_PER_API = 20;

// ---- children -------------------------------------------------------------------------------------------------

function runUpstream(): void {
  const body = JSON.stringify({ id: 42, title: 'Dune', author: 'Frank Herbert' });
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`));
}

/** The flood's document: 15 aliases (the limit) of `apis`, each with the API's fields and its operations,
 *  near the 2000-token limit; the cost stays under 20 000. */
export function floodDocument(): string {
  const selection = 'nodes { id handle displayName version context labels { key value } '
    + 'operations { method path } plans { name status } }';
  const aliases = Array.from({ length: 15 }, (_, i) => `a${i}: apis(first: ${EXTRA_APIS + 5}) { ${selection} }`);
  return `query Flood { ${aliases.join(' ')} }`;
}

/** FLOOD_CLIENTS loops, each sending the flood document as the admin, one request at a time; prints the counts
 *  at SIGTERM. */
function runFlood(port: number, clients: number): void {
  const body = JSON.stringify({ query: floodDocument() });
  let completed = 0;
  let failed = 0;
  let firstError = '';
  let stopping = false;
  const loop = async (): Promise<void> => {
    while (!stopping) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/json' }, body });
        const json = await response.json() as { errors?: { message: string }[] };
        if (response.ok && json.errors === undefined) completed++;
        else {
          failed++;
          firstError ||= `${response.status} ${JSON.stringify(json.errors ?? json).slice(0, 300)}`;
        }
      } catch (error) {
        failed++;
        firstError ||= String(error);
      }
    }
  };
  for (let i = 0; i < clients; i++) void loop();
  process.once('SIGTERM', () => {
    stopping = true;
    process.stdout.write(`${JSON.stringify({ completed, failed, firstError })}\n`);
    process.exit(0);
  });
  process.stdout.write(`${JSON.stringify({ started: true })}\n`);
}

// ---- parent ---------------------------------------------------------------------------------------------------

interface Spawned { child: ChildProcess; next(): Promise<Record<string, unknown>> }

/** Spawns a child and reads its stdout as JSON lines. */
function spawnJsonLines(args: string[], env: NodeJS.ProcessEnv, children: ChildProcess[]): Spawned {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: rootDir });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  const waiters: { resolve: (line: Record<string, unknown>) => void; reject: (error: Error) => void }[] = [];
  let stderr = '';
  let buffered = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-4000); });
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      let line: Record<string, unknown>;
      try { line = JSON.parse(text) as Record<string, unknown>; } catch { continue; }
      const waiter = waiters.shift();
      if (waiter) waiter.resolve(line); else lines.push(line);
    }
  });
  child.once('exit', (code) => {
    for (const waiter of waiters.splice(0)) waiter.reject(new Error(`${args.slice(-3).join(' ')} exited with ${code}: ${stderr}`));
  });
  return {
    child,
    next: () => {
      const line = lines.shift();
      if (line) return Promise.resolve(line);
      if (child.exitCode !== null) return Promise.reject(new Error(`${args.slice(-3).join(' ')} exited with ${child.exitCode}: ${stderr}`));
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
  };
}

const self = (role: string[]): string[] => [...process.execArgv, fileURLToPath(import.meta.url), ...role];

async function graphql<T>(port: number, query: string, variables: Record<string, unknown>): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  const json = await response.json() as { data?: T; errors?: unknown };
  if (json.errors !== undefined || json.data === undefined) throw new Error(`GraphQL: ${JSON.stringify(json).slice(0, 500)}`);
  return json.data;
}

const createApiMutation = `mutation($input: CreateApiInput!) {
  createApi(input: $input) { __typename ... on CreateApiPayload { api { id } } ... on Error { message } } }`;

async function createApi(port: number, name: string, context: string, upstreamPort: number, operations: number): Promise<string> {
  const data = await graphql<{ createApi: { api?: { id: string }; message?: string } }>(port, createApiMutation, { input: {
    metadata: { name },
    spec: {
      displayName: name, version: 'v1.0', context, upstream: { main: { url: `http://127.0.0.1:${upstreamPort}` } },
      operations: [{ method: 'GET', path: '/books/{id}' }, ...Array.from({ length: operations - 1 }, (_, i) => ({ method: 'POST', path: `/items${i}/{id}` }))],
    },
  } });
  if (data.createApi.api === undefined) throw new Error(`createApi: ${data.createApi.message}`);
  return data.createApi.api.id;
}

/** The served API: one with a published KEYLESS plan; then the APIs the flood reads. */
async function provision(port: number, upstreamPort: number): Promise<void> {
  const apiId = await createApi(port, 'bench-api', '/bench/$version', upstreamPort, 1);
  const plan = await graphql<{ createPlan: { plan?: { id: string }; message?: string } }>(port, `mutation($input: CreatePlanInput!) {
    createPlan(input: $input) { __typename ... on CreatePlanPayload { plan { id } } ... on Error { message } } }`,
  { input: { apiId, name: 'Open', security: { type: 'KEYLESS' } } });
  if (plan.createPlan.plan === undefined) throw new Error(`createPlan: ${plan.createPlan.message}`);
  const published = await graphql<{ publishPlan: { __typename: string; message?: string } }>(port, `mutation($input: PublishPlanInput!) {
    publishPlan(input: $input) { __typename ... on Error { message } } }`, { input: { id: plan.createPlan.plan.id } });
  if (published.publishPlan.__typename !== 'PublishPlanPayload') throw new Error(`publishPlan: ${published.publishPlan.message}`);
  for (let i = 0; i < EXTRA_APIS; i++) await createApi(port, `flood-api-${i}`, `/flood${i}/$version`, upstreamPort, OPERATIONS_PER_API);
}

async function waitUntilServed(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await fetch(url).then((r) => (r.body?.cancel(), r.status), () => 0);
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`the gateway did not serve ${url} within 30 s (last status ${status})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Latencies are of the requests answered within the phase (autocannon's): when none was, `answered` is 0. */
interface Figures { p50: number; p99: number; requestsPerSecond: number; errors: number; answered: number }

async function measure(url: string, seconds: number): Promise<Figures> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: seconds });
  return { p50: result.latency.p50, p99: result.latency.p99, requestsPerSecond: result.requests.average, answered: result.requests.total, errors: result.errors + result.timeouts + result.non2xx };
}

interface Row { workers: number; alone: Figures; flood: Figures; management: { completed: number; failed: number; firstError: string } }

async function runSetting(workers: number, children: ChildProcess[], upstreamPort: number): Promise<Row> {
  const dataDir = mkdtempSync(join(tmpdir(), 'apip-isobench-'));
  try {
    const platform = spawnJsonLines(['--import', 'tsx', join(rootDir, 'server', 'main.ts')], {
      ...process.env,
      MANAGEMENT_PORT: '0', GATEWAY_PORT: '0', XDS_PORT: '0', GATEWAY_ADMIN_PORT: '0',
      MANAGEMENT_HOST: '127.0.0.1', GATEWAY_HOST: '127.0.0.1', XDS_HOST: '127.0.0.1', GATEWAY_ADMIN_HOST: '127.0.0.1',
      DATA_DIR: dataDir, DATABASE_URL: '', ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password,
      GATEWAY_WORKERS: String(workers), LOG_LEVEL: 'warn', OTEL_SDK_DISABLED: 'true',
    }, children);
    const ports = await platform.next() as { management: number; gateway: number };
    try {
      await provision(ports.management, upstreamPort);
      const url = `http://127.0.0.1:${ports.gateway}/bench/v1.0/books/42`;
      await waitUntilServed(url);
      await measure(url, 1); // warm-up
      const alone = await measure(url, SECONDS);
      const flood = spawnJsonLines(self(['flood', String(ports.management), String(FLOOD_CLIENTS)]), process.env, children);
      await flood.next();
      await new Promise((resolve) => setTimeout(resolve, 500)); // the flood under way
      const underFlood = await measure(url, SECONDS);
      flood.child.kill('SIGTERM');
      const management = await flood.next() as Row['management'];
      await waitUntilServed(url); // the gateway serves again once the flood ends (throws after 30 s)
      return { workers, alone, flood: underFlood, management };
    } finally {
      // A graceful stop (the platform closes its database); SIGKILL if it takes more than 10 s.
      platform.child.kill('SIGTERM');
      const killer = setTimeout(() => platform.child.kill('SIGKILL'), 10_000);
      await new Promise((resolve) => (platform.child.exitCode === null ? platform.child.once('exit', resolve) : resolve(undefined)));
      clearTimeout(killer);
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function format(rows: Row[]): string {
  const header = ['gateway', 'alone p50 ms', 'alone p99 ms', 'alone req/s', 'flood p50 ms', 'flood p99 ms', 'flood req/s', 'p99 ratio', 'management requests (failed)', 'gateway errors'];
  // A phase in which no request was answered has no latency: shown as "none in N s" (the p99 exceeds the phase).
  const ms = (figures: Figures, value: number): string => (figures.answered === 0 ? `none in ${SECONDS} s` : String(value));
  const ratio = (row: Row): string => (row.flood.answered === 0 ? `> ${(SECONDS * 1000 / Math.max(row.alone.p99, 1)).toFixed(0)}x`
    : `${(row.flood.p99 / Math.max(row.alone.p99, 1)).toFixed(2)}x`);
  const table = rows.map((row) => [
    row.workers === 0 ? 'in-thread (GATEWAY_WORKERS=0)' : `${row.workers} workers`,
    ms(row.alone, row.alone.p50), ms(row.alone, row.alone.p99), row.alone.requestsPerSecond.toFixed(0),
    ms(row.flood, row.flood.p50), ms(row.flood, row.flood.p99), row.flood.requestsPerSecond.toFixed(0),
    ratio(row), `${row.management.completed} (${row.management.failed})`, String(row.alone.errors + row.flood.errors),
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...table.map((cells) => cells[i]?.length ?? 0)));
  const line = (cells: string[]): string => `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...table.map(line)].join('\n');
}

async function main(): Promise<void> {
  const startLoad = loadavg().map((value) => value.toFixed(1)).join(' ');
  const children: ChildProcess[] = [];
  const rows: Row[] = [];
  const stop = (): void => { for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); };
  process.once('SIGINT', () => { stop(); process.exit(130); });
  try {
    const upstream = spawnJsonLines(self(['upstream']), process.env, children);
    const upstreamPort = (await upstream.next()).port as number;
    for (const workers of WORKER_SETTINGS) {
      const row = await runSetting(workers, children, upstreamPort);
      rows.push(row);
      if (row.management.firstError) process.stderr.write(`flood: first failure: ${row.management.firstError}\n`);
    }
  } finally {
    stop();
  }
  process.stdout.write(`${format(rows)}\n\n`);
  process.stdout.write(`${CONNECTIONS} connections, ${SECONDS} s per phase; flood: ${FLOOD_CLIENTS} admin clients in a loop, each request `
    + `a ${floodDocument().length}-byte document of 15 aliased apis queries (${EXTRA_APIS + 1} APIs, ${OPERATIONS_PER_API} operations each). `
    + 'Target: p99 ratio <= 1.5x with workers.\n');
  process.stdout.write(`load average at the start: ${startLoad}; at the end: ${loadavg().map((value) => value.toFixed(1)).join(' ')}; `
    + `${availableParallelism()} CPUs shared by autocannon, the flood, the upstream and the platform\n`);
}

const [role, ...args] = process.argv.slice(2);
if (role === 'upstream') runUpstream();
else if (role === 'flood') runFlood(Number(args[0]), Number(args[1] ?? FLOOD_CLIENTS));
else {
  try {
    await main();
    process.exit(0);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exit(1);
  }
}
