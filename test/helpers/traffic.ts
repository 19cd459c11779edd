// Harness for end-to-end traffic tests (test/e2e/traffic-*.test.ts): recording upstreams on 127.0.0.1,
// a raw HTTP client for the gateway, `eventually()` for "within N s" promises, GraphQL helpers, metrics parsing.
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestPlatform } from './platform.ts';

/** What a recording upstream received, as it arrived on the socket. */
export interface ReceivedRequest {
  method: string;
  /** Path and query as sent by the gateway. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Recorder {
  port: number;
  /** http://127.0.0.1:<port><basePath> — what an API's upstream URL is set to. */
  url: string;
  received: ReceivedRequest[];
  /** The requests received since `mark` (an index into `received`). */
  since(mark: number): ReceivedRequest[];
  last(): ReceivedRequest;
  close(): Promise<void>;
}

async function listenLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * An upstream that records every request and answers 200 JSON `{upstream, method, url}` with
 * `x-upstream: <name>` (so a test knows which upstream answered) and `x-upstream-header: kept`.
 */
export async function startRecorder(name: string, basePath = ''): Promise<Recorder> {
  const received: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const payload = JSON.stringify({ upstream: name, method: req.method, url: req.url });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'x-upstream': name });
      res.end(payload);
    });
  });
  const port = await listenLoopback(server);
  return {
    port,
    url: `http://127.0.0.1:${port}${basePath}`,
    received,
    since: (mark) => received.slice(mark),
    last: () => {
      const entry = received.at(-1);
      if (!entry) throw new Error(`upstream ${name} has received nothing`);
      return entry;
    },
    close: () => closeServer(server),
  };
}

/** A loopback server answering one JSON document (a JWKS) at any path; counts fetches. */
export async function startJsonServer(document: unknown): Promise<{ url: string; fetches: () => number; serve(next: unknown): void; close(): Promise<void> }> {
  let fetches = 0;
  let body = JSON.stringify(document);
  const server = createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  const port = await listenLoopback(server);
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    fetches: () => fetches,
    // What the next fetch gets (an IdP rotating its keys).
    serve: (next) => {
      body = JSON.stringify(next);
    },
    close: () => closeServer(server),
  };
}

export interface GatewayAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json<T = unknown>(): T;
}

/**
 * One HTTP/1.1 request to the gateway on a fresh connection (no pooling, so nothing of one request can leak
 * into the next), with exactly the headers given (node:http adds only Host and, for bodies, Content-Length).
 */
export function send(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<GatewayAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T,>() => JSON.parse(text) as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * Polls `probe` until `accept` holds or `timeoutMs` passes (then throws with the last value seen). For the
 * issue's "within N s" promises: the deadline is the promise, the polling interval is not.
 */
export async function eventually<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const { timeoutMs = 1000, intervalMs = 10, what = 'the condition' } = options;
  const deadline = performance.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await probe();
      if (accept(last)) return last;
    } catch (error: unknown) {
      lastError = error;
    }
    if (performance.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  const seen = last === undefined ? String(lastError) : JSON.stringify(last, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).slice(0, 500);
  throw new Error(`${what} did not hold within ${timeoutMs} ms; last seen: ${seen}`);
}

/**
 * Waits until `path` on the gateway answers `status`; returns that answer. The default deadline (5 s) only bounds
 * a wait; pass `timeoutMs: 1000` where the issue promises "within 1 s".
 */
export function gatewayAnswers(
  port: number,
  path: string,
  status: number,
  options: { headers?: Record<string, string>; method?: string; timeoutMs?: number } = {},
): Promise<GatewayAnswer> {
  return eventually(
    () => send(port, path, { method: options.method ?? 'GET', headers: options.headers ?? {} }),
    (answer) => answer.status === status,
    { timeoutMs: options.timeoutMs ?? 5000, intervalMs: 5, what: `${options.method ?? 'GET'} ${path} -> ${status}` },
  );
}

/** The raw id of a Relay global id (`base64("Api:api_…")` -> `api_…`). */
export function rawId(globalId: string): string {
  return Buffer.from(globalId, 'base64').toString().split(':').slice(1).join(':');
}

/** A Relay global id for a raw id. */
export function globalId(type: string, id: string): string {
  return Buffer.from(`${type}:${id}`).toString('base64');
}

/**
 * Runs one mutation whose result is a union and returns its payload, failing loudly (with the whole answer)
 * unless `__typename` is `<Field>Payload` (e.g. `createApi` -> `CreateApiPayload`).
 */
export async function mutate<T>(t: TestPlatform, field: string, inputType: string, selection: string, input: Record<string, unknown>): Promise<T> {
  const payload = `${field[0]!.toUpperCase()}${field.slice(1)}Payload`;
  const query = `mutation($input: ${inputType}!) { ${field}(input: $input) { __typename ... on ${payload} { ${selection} } ... on Error { message } } }`;
  const res = await t.graphql<Record<string, { __typename: string } & T>>(query, { input });
  const result = res.data?.[field];
  if (!result || result.__typename !== payload) throw new Error(`${field} failed: ${JSON.stringify(res)}`);
  return result;
}

/** One sample of a Prometheus text exposition. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text format 0.0.4 (samples only; comments skipped). */
export function parseMetrics(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** `apip_gateway_requests_total` by `route|status|decision`, from the gateway admin's /metrics. */
export async function requestCounts(adminPort: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const counts = new Map<string, number>();
  for (const s of parseMetrics(await res.text())) {
    if (s.name !== 'apip_gateway_requests_total') continue;
    counts.set(`${s.labels.api}|${s.labels.route}|${s.labels.status}|${s.labels.decision}`, s.value);
  }
  return counts;
}

/**
 * createApi over GraphQL with one upstream URL, deployed and public; returns its global id. `accessMode` as given,
 * else the GraphQL default (PLANS: closed until a plan is published).
 */
export async function createApiOverGraphql(
  t: TestPlatform,
  handle: string,
  spec: {
    context: string;
    upstreamUrl: string;
    operations: { method: string; path: string; policies?: unknown[] }[];
    policies?: unknown[];
    version?: string;
    accessMode?: 'PLANS' | 'OPEN';
  },
): Promise<string> {
  const created = await mutate<{ api: { id: string } }>(t, 'createApi', 'CreateApiInput', 'api { id }', {
    metadata: { name: handle },
    ...(spec.accessMode ? { accessMode: spec.accessMode } : {}),
    spec: {
      displayName: handle,
      version: spec.version ?? 'v1',
      context: spec.context,
      upstream: { main: { url: spec.upstreamUrl } },
      operations: spec.operations,
      ...(spec.policies ? { policies: spec.policies } : {}),
    },
  });
  return created.api.id;
}

/** createPlan + publishPlan; returns the plan's global id. */
export async function publishedPlan(t: TestPlatform, apiId: string, name: string, security: Record<string, unknown>, policies?: unknown[]): Promise<string> {
  const created = await mutate<{ plan: { id: string } }>(t, 'createPlan', 'CreatePlanInput', 'plan { id }', {
    apiId,
    name,
    security,
    ...(policies ? { policies } : {}),
  });
  await mutate(t, 'publishPlan', 'PublishPlanInput', 'plan { status }', { id: created.plan.id });
  return created.plan.id;
}

export interface Subscribed {
  applicationId: string;
  subscriptionId: string;
  /** The issued key's value (API_KEY plans), shown once. */
  keyValue: string | null;
  /** The issued key's global id. */
  keyId: string | null;
}

/** createApplication (with an optional client id) + subscribe to an AUTO plan. */
export async function subscribeNewApplication(t: TestPlatform, name: string, planId: string, clientId?: string): Promise<Subscribed> {
  const app = await mutate<{ application: { id: string } }>(t, 'createApplication', 'CreateApplicationInput', 'application { id }', {
    name,
    ...(clientId ? { clientId } : {}),
  });
  const sub = await mutate<{ subscription: { id: string; status: string }; issuedKey: { value: string; key: { id: string } } | null }>(
    t, 'subscribe', 'SubscribeInput', 'subscription { id status } issuedKey { value key { id } }',
    { applicationId: app.application.id, planId },
  );
  if (sub.subscription.status !== 'ACCEPTED') throw new Error(`subscription is ${sub.subscription.status}`);
  return { applicationId: app.application.id, subscriptionId: sub.subscription.id, keyValue: sub.issuedKey?.value ?? null, keyId: sub.issuedKey?.key.id ?? null };
}

/** An RSA signing key for tests: the private key signs, the public key is given to a plan (PEM or JWKS). */
export interface SigningKey {
  kid: string;
  /**
   * `kid: false` leaves the `kid` header out (as tokens for a kid-less PEM key often are), a string names another kid;
   * `expiresIn: false` leaves the `exp` claim out; `issuedAt` (seconds since the epoch) replaces now as `iat`.
   */
  sign(claims: Record<string, unknown>, options?: { expiresIn?: string | number | false; kid?: boolean | string; issuedAt?: number }): Promise<string>;
  publicPem: string;
  publicJwk: Record<string, unknown>;
}

export async function rsaSigningKey(kid: string): Promise<SigningKey> {
  const { generateKeyPair, exportJWK, exportSPKI, SignJWT } = await import('jose');
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return {
    kid,
    publicPem: await exportSPKI(publicKey),
    publicJwk,
    sign: (claims, options = {}) => {
      const jwt = new SignJWT(claims)
        .setProtectedHeader(options.kid === false ? { alg: 'RS256', typ: 'JWT' } : { alg: 'RS256', kid: typeof options.kid === 'string' ? options.kid : kid, typ: 'JWT' })
        .setIssuedAt(options.issuedAt);
      return (options.expiresIn === false ? jwt : jwt.setExpirationTime(options.expiresIn ?? '5m')).sign(privateKey);
    },
  };
}

/**
 * A TCP relay on 127.0.0.1 in front of a server (Postgres), so a test can make "the database is unreachable"
 * real without stopping a server other suites share: `cut()` refuses new connections and resets the open ones;
 * `restore()` listens again on the same port.
 */
export interface TcpRelay {
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpRelay(target: { host: string; port: number }): Promise<TcpRelay> {
  const { createServer: createTcpServer, connect } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const track = (socket: import('node:net').Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = createTcpServer((client) => {
    const upstream = connect(target.port, target.host);
    track(client);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const listenOn = (port: number) => new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
  const stop = async () => {
    const closed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const socket of sockets) socket.resetAndDestroy();
    await closed;
  };
  const port = await listenOn(0);
  return { port, cut: stop, restore: async () => { await listenOn(port); }, close: stop };
}
