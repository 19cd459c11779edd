import { keyDigestHex, testDigestKeyHex } from '../test/helpers/policies.ts';
// Embedded gateway throughput: autocannon, 50 connections, BENCH_SECONDS per target (default 10) in 5 round-robin
// slices after a 2 s warm-up each, against: the upstream directly; nginx proxy_pass to it (1 worker, keep-alive
// upstream; skipped with a note when nginx is not installed); a bare node:http proxy (the floor of any proxy on
// node:http's client, for reference); a bare node:http server + undici client proxy (the floor of what the
// gateway is built on); the gateway with no policy and with api-key + throttle (high limit) + set-headers, each
// with 1 worker thread and with one per core (BENCH_WORKERS, e.g. `0,1,2`; 0 = in-thread). Every server is one
// process (nginx one worker; a gateway's CPU time counts all its threads); autocannon, the upstream and the server measured
// share the machine's CPUs (printed at the end). Prints req/s, p50, p99 and the measured server's CPU time per
// request. Every server is a child process on 127.0.0.1, stopped at the end; traffic goes to 127.0.0.1 only.
// Run: npx tsx bench/gateway.ts   (roles `upstream`, `bare-proxy <port>`, `bare-undici-proxy <port>`,
// `gateway <port> <none|policies> <workers>` are this file re-invoked as children)
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Pool } from 'undici';
import { createGateway } from '../server/gateway/gateway.ts';
import type { EnvoyResource } from '../server/envoy/resources.ts';
import { listener, route, routeConfiguration, snapshot, staticCluster, wasmFilter } from '../test/fixtures/gateway/envoy-resources.ts';
import { ManualSource, moduleSha256 } from '../test/fixtures/gateway/servers.ts';

const rootDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = 50;
const ROUNDS = 5;
const ROUTE = 'bench-api/GET/books/{id}';
const KEY = `apip_${createHash('sha256').update('bench').digest('hex')}`;
const sha256 = keyDigestHex;
/** Gateway worker threads measured: 1 and one per core (BENCH_WORKERS=1,4 to choose). */
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? `1,${availableParallelism()}`).split(',').map(Number)
  .filter((count, i, all) => Number.isInteger(count) && count >= 0 && all.indexOf(count) === i);
const workerLabel = (workers: number): string => (workers === 0 ? 'in-thread' : `${workers} worker${workers === 1 ? '' : 's'}`);

/** Prints the listening port as one JSON line, for the parent; then a `{cpuUs}` line at every SIGUSR2. */
function announce(port: number): void {
  process.on('SIGUSR2', () => {
    const usage = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ cpuUs: usage.user + usage.system })}\n`);
  });
  process.stdout.write(`${JSON.stringify({ port })}\n`);
}

async function runUpstream(): Promise<void> {
  const body = JSON.stringify({ id: 42, title: 'Dune', author: 'Frank Herbert' });
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => announce((server.address() as AddressInfo).port));
}

/** The floor of a proxy on node:http's server and undici's client (what the gateway is built on): request →
 *  undici Client dispatch → response written back, nothing else (a reference row). */
async function runBareUndiciProxy(upstreamPort: number): Promise<void> {
  const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 256, pipelining: 1 });
  const server = createServer((req, res) => {
    req.resume();
    pool.dispatch({ path: req.url ?? '/', method: req.method ?? 'GET', headers: req.rawHeaders, body: null }, {
      onConnect: () => undefined,
      onHeaders: (status: number, raw: Buffer[]) => {
        res.writeHead(status, raw.map((value) => value.toString('latin1')));
        return true;
      },
      onData: (chunk: Buffer) => res.write(chunk),
      onComplete: () => res.end(),
      onError: () => {
        if (!res.headersSent) res.writeHead(503);
        res.end();
      },
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => announce((server.address() as AddressInfo).port));
}

/** The floor for any node:http proxy: request → keep-alive agent → pipe back, nothing else (a reference row). */
async function runBareProxy(upstreamPort: number): Promise<void> {
  const agent = new HttpAgent({ keepAlive: true, scheduling: 'lifo', maxFreeSockets: 1024 });
  const server = createServer((req, res) => {
    const upstream = httpRequest({ agent, host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers }, (response) => {
      res.writeHead(response.statusCode ?? 502, response.headers);
      response.pipe(res);
    });
    upstream.on('error', () => res.writeHead(503).end());
    req.pipe(upstream);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => announce((server.address() as AddressInfo).port));
}

function policyFilters(baseUrl: string): EnvoyResource[] {
  // Chain order as the translator writes it: authentication first (it strips client x-apip-* headers), then
  // throttling, then header manipulation.
  return [
    wasmFilter({
      module: 'api-key', baseUrl, sha256: moduleSha256('api-key'),
      configuration: {
        stripIdentityHeaders: true,
        digestKey: testDigestKeyHex,
        keySets: { api: [{ sha256: sha256(KEY), status: 'active', applicationId: 'app-bench', plan: 'Gold' }] },
        routes: { [ROUTE]: { keySets: ['api'], key: 'x-api-key' } },
      },
    }),
    wasmFilter({
      module: 'throttle', baseUrl, sha256: moduleSha256('throttle'),
      configuration: { routes: { [ROUTE]: { limits: [{ requests: 1_000_000_000, windowMs: 60_000 }] } } },
    }),
    wasmFilter({
      module: 'set-headers', baseUrl, sha256: moduleSha256('set-headers'),
      configuration: { routes: { [ROUTE]: { request: { headers: [{ name: 'x-gateway', value: 'v1' }] }, response: { headers: [{ name: 'x-env', value: 'bench' }] } } } },
    }),
  ];
}

/** Serves policies/build/*.wasm (the bytes the control plane would serve) to the gateway's workers. */
async function serveModules(): Promise<string> {
  const server = createServer((req, res) => {
    try {
      const body = readFileSync(join(rootDir, 'policies', 'build', basename(new URL(req.url ?? '/', 'http://x').pathname)));
      res.writeHead(200, { 'content-type': 'application/wasm', 'content-length': body.length }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function runGateway(upstreamPort: number, withPolicies: boolean, workers: number): Promise<void> {
  const source = new ManualSource(snapshot('1', {
    listeners: [listener(withPolicies ? policyFilters(await serveModules()) : [])],
    routes: [routeConfiguration([{
      name: 'default', domains: ['*'],
      routes: [route({ name: ROUTE, match: { safeRegex: { regex: '/books/[^/]+' }, headers: [{ name: ':method', stringMatch: { exact: 'GET' } }] }, cluster: 'books' })],
    }])],
    clusters: [staticCluster('books', [{ address: '127.0.0.1', port: upstreamPort }])],
  }));
  const gateway = await createGateway({ source, port: 0, logger: pino({ level: 'warn' }), workers });
  if (gateway.version === null) throw new Error('the gateway did not take its configuration');
  // A clean exit on SIGTERM, so that `node --cpu-prof` can write its profile.
  process.once('SIGTERM', () => process.exit(0));
  announce(gateway.port);
}

interface Child {
  child: ChildProcess;
  port: number;
  /** CPU time the process has used so far (user + system), in microseconds. */
  cpuUs(): Promise<number>;
}

function start(args: string[]): Promise<Child> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const waiters: ((line: Record<string, number>) => void)[] = [];
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let newline = buffered.indexOf('\n');
    while (newline >= 0) {
      const line = JSON.parse(buffered.slice(0, newline)) as Record<string, number>;
      buffered = buffered.slice(newline + 1);
      waiters.shift()?.(line);
      newline = buffered.indexOf('\n');
    }
  });
  const next = (): Promise<Record<string, number>> => new Promise((resolve) => waiters.push(resolve));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
    void next().then((line) => resolve({
      child,
      port: line.port ?? 0,
      cpuUs: async () => {
        const reply = next();
        child.kill('SIGUSR2');
        return (await reply).cpuUs ?? 0;
      },
    }));
  });
}

/** CPU time of an nginx master's workers, from /proc (clock ticks of 10 ms). */
function nginxCpuUs(masterPid: number): number {
  const children = readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  let ticks = 0;
  for (const pid of children) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return ticks * 10_000;
}

interface Result {
  name: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU time of the proxy under test (or of the upstream, for the direct row) per request, in µs. */
  cpuUsPerRequest?: number;
  note?: string;
}

function runAutocannon(url: string, headers: string[], seconds: number): { requests: { average: number; total?: number }; latency: { p50: number; p99: number }; errors: number; non2xx: number } {
  const cli = join(rootDir, 'node_modules', 'autocannon', 'autocannon.js');
  const args = [cli, '-c', String(CONNECTIONS), ...headers.flatMap((header) => ['-H', header]), '-d', String(seconds), '-j', url];
  const output = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(output) as ReturnType<typeof runAutocannon>;
}

interface Target {
  name: string;
  url: string;
  headers: string[];
  cpu: () => Promise<number> | number;
}

interface Tally {
  requests: number;
  seconds: number;
  p50s: number[];
  p99s: number[];
  errors: number;
  cpuUs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Round-robin measurement: every target gets ROUNDS slices of SECONDS / ROUNDS in turn, so load from anything
 *  else on the machine falls on all of them alike. req/s = all requests / all seconds; p50 and p99 are the
 *  medians of the slices' values; CPU per request is the measured server's CPU time over its requests. */
async function measureAll(targets: Target[]): Promise<Result[]> {
  for (const target of targets) runAutocannon(target.url, target.headers, 2);
  const tallies = targets.map((): Tally => ({ requests: 0, seconds: 0, p50s: [], p99s: [], errors: 0, cpuUs: 0 }));
  const slice = Math.max(1, Math.round(SECONDS / ROUNDS));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, target] of targets.entries()) {
      const tally = tallies[index];
      if (tally === undefined) continue;
      const before = await target.cpu();
      const result = runAutocannon(target.url, target.headers, slice);
      tally.cpuUs += (await target.cpu()) - before;
      tally.requests += result.requests.total ?? result.requests.average * slice;
      tally.seconds += slice;
      tally.p50s.push(result.latency.p50);
      tally.p99s.push(result.latency.p99);
      tally.errors += result.errors + result.non2xx;
    }
  }
  return targets.map((target, index) => {
    const tally = tallies[index] ?? { requests: 0, seconds: 1, p50s: [], p99s: [], errors: 0, cpuUs: 0 };
    return {
      name: target.name,
      requestsPerSecond: tally.requests / tally.seconds,
      p50: median(tally.p50s),
      p99: median(tally.p99s),
      errors: tally.errors,
      cpuUsPerRequest: tally.requests > 0 ? tally.cpuUs / tally.requests : 0,
    };
  });
}

function startNginx(upstreamPort: number): { stop(): Promise<void>; port: number; pid: number } | string {
  let binary: string;
  try {
    binary = execFileSync('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx'], { encoding: 'utf8' }).trim().split('\n')[0] ?? '';
    if (binary === '') throw new Error('not found');
  } catch {
    return 'nginx is not installed (apt-get install -y nginx)';
  }
  const dir = mkdtempSync(join(tmpdir(), 'apip-bench-nginx-'));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream books { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://books; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`);
  const child = spawn(binary, ['-p', dir, '-e', 'stderr', '-c', join(dir, 'nginx.conf')], { stdio: 'inherit' });
  execFileSync('sleep', ['1']);
  if (child.exitCode !== null) return `nginx exited with ${child.exitCode}`;
  return {
    port,
    pid: child.pid ?? 0,
    stop: async () => {
      // Graceful quit, then the temp directory (nginx removes its pid file on the way out).
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGQUIT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function format(results: Result[]): string {
  const lines = ['| target | req/s | p50 ms | p99 ms | errors | CPU µs/req (server measured) |', '| --- | ---: | ---: | ---: | ---: | ---: |'];
  for (const r of results) {
    lines.push(r.note !== undefined
      ? `| ${r.name} | — | — | — | — | ${r.note} |`
      : `| ${r.name} | ${r.requestsPerSecond.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.errors} | ${(r.cpuUsPerRequest ?? 0).toFixed(1)} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const startLoad = loadavg().map((value) => value.toFixed(1)).join(' ');
  const children: ChildProcess[] = [];
  const results: Result[] = [];
  let nginx: ReturnType<typeof startNginx> | null = null;
  try {
    const upstream = await start(['upstream']);
    children.push(upstream.child);
    const gateways = new Map<string, Child>();
    for (const workers of WORKER_COUNTS) {
      for (const chain of ['none', 'policies']) {
        const gateway = await start(['gateway', String(upstream.port), chain, String(workers)]);
        children.push(gateway.child);
        gateways.set(`${chain} ${workers}`, gateway);
      }
    }
    const bare = await start(['bare-proxy', String(upstream.port)]);
    children.push(bare.child);
    const bareUndici = await start(['bare-undici-proxy', String(upstream.port)]);
    children.push(bareUndici.child);
    nginx = startNginx(upstream.port);
    const targets: Target[] = [{ name: 'upstream directly', url: `http://127.0.0.1:${upstream.port}/books/42`, headers: [], cpu: upstream.cpuUs }];
    if (typeof nginx !== 'string') {
      const pid = nginx.pid;
      targets.push({ name: 'nginx proxy_pass (1 worker)', url: `http://127.0.0.1:${nginx.port}/books/42`, headers: [], cpu: () => nginxCpuUs(pid) });
    }
    targets.push(
      { name: 'bare node:http proxy, 1 process (reference)', url: `http://127.0.0.1:${bare.port}/books/42`, headers: [], cpu: bare.cpuUs },
      { name: 'bare node:http + undici proxy, 1 process (reference)', url: `http://127.0.0.1:${bareUndici.port}/books/42`, headers: [], cpu: bareUndici.cpuUs },
      ...WORKER_COUNTS.flatMap((workers) => {
        const plain = gateways.get(`none ${workers}`);
        const policies = gateways.get(`policies ${workers}`);
        if (plain === undefined || policies === undefined) return [];
        return [
          { name: `gateway, no policy (${workerLabel(workers)})`, url: `http://127.0.0.1:${plain.port}/books/42`, headers: [], cpu: plain.cpuUs },
          { name: `gateway, api-key + throttle + set-headers (${workerLabel(workers)})`, url: `http://127.0.0.1:${policies.port}/books/42`, headers: [`x-api-key=${KEY}`], cpu: policies.cpuUs },
        ];
      }),
    );
    results.push(...await measureAll(targets));
    if (typeof nginx === 'string') results.splice(1, 0, { name: 'nginx proxy_pass', requestsPerSecond: 0, p50: 0, p99: 0, errors: 0, note: `skipped: ${nginx}` });
  } finally {
    if (nginx !== null && typeof nginx !== 'string') await nginx.stop();
    for (const child of children) if (child.exitCode === null) child.kill();
  }
  process.stdout.write(`${format(results)}\n\n`);
  const find = (prefix: string) => results.find((r) => r.name.startsWith(prefix) && r.note === undefined);
  // Ratios at the most workers measured (one per core by default).
  const most = workerLabel(Math.max(...WORKER_COUNTS));
  const plain = find(`gateway, no policy (${most})`);
  const withPolicies = find(`gateway, api-key + throttle + set-headers (${most})`);
  const nginxResult = find('nginx');
  const cpuRatio = (a: Result, b: Result): number => (b.cpuUsPerRequest ?? 0) / (a.cpuUsPerRequest ?? 1);
  if (plain !== undefined && withPolicies !== undefined) {
    const cost = 1 - withPolicies.requestsPerSecond / plain.requestsPerSecond;
    process.stdout.write(`policy chain cost: ${(cost * 100).toFixed(1)} % of no-policy throughput (target <= 20 %); `
      + `by CPU per request: ${((1 - 1 / cpuRatio(plain, withPolicies)) * 100).toFixed(1)} %\n`);
  }
  if (withPolicies !== undefined && nginxResult !== undefined) {
    process.stdout.write(`gateway with the three policies (${most}) / nginx (1 worker): ${(withPolicies.requestsPerSecond / nginxResult.requestsPerSecond).toFixed(2)}x throughput (target >= 0.8x)\n`);
  }
  if (plain !== undefined && nginxResult !== undefined) {
    process.stdout.write(`gateway (${most}) / nginx: ${(plain.requestsPerSecond / nginxResult.requestsPerSecond).toFixed(2)}x throughput (target >= 0.5x); `
      + `by CPU per request: ${cpuRatio(plain, nginxResult).toFixed(2)}x\n`);
  }
  const bare = find('bare node:http + undici');
  if (plain !== undefined && bare !== undefined) {
    process.stdout.write(`gateway / bare node:http + undici proxy: ${(plain.requestsPerSecond / bare.requestsPerSecond).toFixed(2)}x throughput; `
      + `by CPU per request: ${cpuRatio(plain, bare).toFixed(2)}x\n`);
  }
  process.stdout.write(`load average at the start: ${startLoad}; at the end: ${loadavg().map((value) => value.toFixed(1)).join(' ')}; `
    + `${availableParallelism()} CPUs shared by autocannon, the upstream and the server measured (every server 1 process, `
    + 'nginx 1 worker; a gateway\'s CPU time counts all its threads)\n');
}

const [role, ...args] = process.argv.slice(2);
if (role === 'upstream') await runUpstream();
else if (role === 'gateway') await runGateway(Number(args[0]), args[1] === 'policies', Number(args[2] ?? 1));
else if (role === 'bare-proxy') await runBareProxy(Number(args[0]));
else if (role === 'bare-undici-proxy') await runBareUndiciProxy(Number(args[0]));
else await main();
