// Harness for the "plans on traffic" end-to-end suites (test/e2e/traffic-plans-*.test.ts, docs/plan-selection.md):
// plans of every security type created over GraphQL, users of each role, subscriptions and keys as consumers
// get them, what the upstream received (identity headers, credentials), an RFC 7662 introspection server on
// loopback, and the strict Envoy proto check of the configuration being served.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { validateResources } from '../../server/xds/validate.ts';
import { adminAuth, basicAuth, type TestPlatform } from './platform.ts';
import { eventually, type GatewayAnswer, gatewayAnswers, rawId, type Recorder, send } from './traffic.ts';

// ---------------------------------------------------------------------------------------------------------------
// GraphQL as any role.

/** One mutation as `auth` (admin by default); returns the union member whatever it is, with `__typename`. */
export async function mutation<T = Record<string, unknown>>(
  t: TestPlatform,
  field: string,
  inputType: string,
  selection: string,
  input: Record<string, unknown>,
  auth: string = adminAuth,
): Promise<T & { __typename: string; message?: string }> {
  const payload = `${field[0]!.toUpperCase()}${field.slice(1)}Payload`;
  const query = `mutation($input: ${inputType}!) { ${field}(input: $input) { __typename ... on ${payload} { ${selection} } ... on Error { message } } }`;
  const res = await t.graphql<Record<string, T & { __typename: string }>>(query, { input }, auth);
  const result = res.data?.[field];
  if (!result) throw new Error(`${field}: no result: ${JSON.stringify(res)}`);
  return result as T & { __typename: string };
}

/** Like `mutation`, but fails (with the whole answer) unless the payload came back. */
export async function must<T = Record<string, unknown>>(
  t: TestPlatform,
  field: string,
  inputType: string,
  selection: string,
  input: Record<string, unknown>,
  auth: string = adminAuth,
): Promise<T> {
  const result = await mutation<T>(t, field, inputType, selection, input, auth);
  const payload = `${field[0]!.toUpperCase()}${field.slice(1)}Payload`;
  if (result.__typename !== payload) throw new Error(`${field} failed: ${JSON.stringify(result)}`);
  return result;
}

/** A query as `auth`, failing on GraphQL errors. */
export async function query<T>(t: TestPlatform, text: string, variables: Record<string, unknown> = {}, auth: string = adminAuth): Promise<T> {
  const res = await t.graphql<T>(text, variables, auth);
  if (res.errors?.length || !res.data) throw new Error(`query failed: ${JSON.stringify(res)}`);
  return res.data;
}

/** Creates a user of `role` and returns its Basic credentials for `t.graphql`. */
export async function userAuth(t: TestPlatform, username: string, role: 'admin' | 'publisher' | 'consumer'): Promise<string> {
  const password = `${username}-password-1`;
  await must(t, 'createUser', 'CreateUserInput', 'user { id }', { username, password, role });
  return basicAuth(username, password);
}

// ---------------------------------------------------------------------------------------------------------------
// APIs, plans, applications, subscriptions.

export interface ApiOptions {
  context: string;
  upstreamUrl: string;
  operations?: { method: string; path: string; policies?: unknown[]; allowMethodOverride?: boolean }[];
  visibility?: 'public' | 'private';
  version?: string;
  /** @default the GraphQL default, PLANS (closed until a plan is published) */
  accessMode?: 'PLANS' | 'OPEN';
}

/** createApi (deployed) with one upstream; returns its global id. Operations default to `GET /items`. */
export async function createApi(t: TestPlatform, handle: string, options: ApiOptions): Promise<string> {
  const created = await must<{ api: { id: string } }>(t, 'createApi', 'CreateApiInput', 'api { id }', {
    metadata: { name: handle },
    ...(options.visibility ? { visibility: options.visibility } : {}),
    ...(options.accessMode ? { accessMode: options.accessMode } : {}),
    spec: {
      displayName: handle,
      version: options.version ?? 'v1',
      context: options.context,
      upstream: { main: { url: options.upstreamUrl } },
      operations: options.operations ?? [{ method: 'GET', path: '/items' }],
    },
  });
  return created.api.id;
}

export interface PlanOptions {
  policies?: unknown[];
  selectionRule?: string;
  validation?: 'AUTO' | 'MANUAL';
  /** @default true */
  publish?: boolean;
}

/** createPlan (+ publishPlan unless `publish: false`); returns the plan's global id. */
export async function createPlan(t: TestPlatform, apiId: string, name: string, security: Record<string, unknown>, options: PlanOptions = {}): Promise<string> {
  const created = await must<{ plan: { id: string } }>(t, 'createPlan', 'CreatePlanInput', 'plan { id }', {
    apiId,
    name,
    security,
    ...(options.policies ? { policies: options.policies } : {}),
    ...(options.selectionRule !== undefined ? { selectionRule: options.selectionRule } : {}),
    ...(options.validation ? { validation: options.validation } : {}),
  });
  if (options.publish !== false) await must(t, 'publishPlan', 'PublishPlanInput', 'plan { status }', { id: created.plan.id });
  return created.plan.id;
}

/** createApplication as `auth`; returns its global id. */
export async function createApplication(
  t: TestPlatform,
  name: string,
  options: { clientId?: string; apiKeyMode?: 'SHARED' | 'EXCLUSIVE' } = {},
  auth: string = adminAuth,
): Promise<string> {
  const created = await must<{ application: { id: string } }>(t, 'createApplication', 'CreateApplicationInput', 'application { id }', { name, ...options }, auth);
  return created.application.id;
}

export interface Subscription {
  id: string;
  status: string;
  /** The clear key value issued with this answer (API-key plans), or null. */
  key: string | null;
  /** The issued key's global id, or null. */
  keyId: string | null;
}

/** subscribe as `auth`; fails unless the payload came back. */
export async function subscribe(
  t: TestPlatform,
  applicationId: string,
  planId: string,
  extra: Record<string, unknown> = {},
  auth: string = adminAuth,
): Promise<Subscription> {
  const sub = await must<{ subscription: { id: string; status: string }; issuedKey: { value: string; key: { id: string } } | null }>(
    t, 'subscribe', 'SubscribeInput', 'subscription { id status } issuedKey { value key { id } }',
    { applicationId, planId, ...extra }, auth,
  );
  return { id: sub.subscription.id, status: sub.subscription.status, key: sub.issuedKey?.value ?? null, keyId: sub.issuedKey?.key.id ?? null };
}

/** A new application subscribed to `planId` (AUTO): its ids and key. */
export async function newSubscriber(
  t: TestPlatform,
  name: string,
  planId: string,
  options: { clientId?: string; apiKeyMode?: 'SHARED' | 'EXCLUSIVE'; subscribe?: Record<string, unknown> } = {},
): Promise<Subscription & { applicationId: string }> {
  const applicationId = await createApplication(t, name, { ...(options.clientId ? { clientId: options.clientId } : {}), ...(options.apiKeyMode ? { apiKeyMode: options.apiKeyMode } : {}) });
  const sub = await subscribe(t, applicationId, planId, options.subscribe ?? {});
  return { ...sub, applicationId };
}

// ---------------------------------------------------------------------------------------------------------------
// What reached the upstream.

/** The identity headers the upstream received (`x-apip-*`), by their raw values. */
export function identityOf(headers: IncomingHttpHeaders): { application: string | null; subscription: string | null; plan: string | null } {
  const one = (name: string) => {
    const v = headers[name];
    return v === undefined ? null : Array.isArray(v) ? v.join(',') : v;
  };
  return { application: one('x-apip-application-id'), subscription: one('x-apip-subscription-id'), plan: one('x-apip-plan') };
}

/** The identity a subscription should produce at the upstream (global ids in, raw ids out). */
export function expectedIdentity(applicationId: string | null, subscriptionId: string | null, planId: string): ReturnType<typeof identityOf> {
  return { application: applicationId && rawId(applicationId), subscription: subscriptionId && rawId(subscriptionId), plan: rawId(planId) };
}

/** Sends one request and returns the answer with what the upstream received for it (none when rejected). */
export async function sendThrough(
  gw: number,
  upstream: Recorder,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ answer: GatewayAnswer; seen: Recorder['received'] }> {
  const mark = upstream.received.length;
  const answer = await send(gw, path, options);
  return { answer, seen: upstream.since(mark) };
}

/**
 * Polls until a request is answered `status` and (for 2xx) the upstream saw `plan` as x-apip-plan: for waiting
 * until a plan change is served (an API without plans answers 200 too, so the status alone proves nothing).
 */
export function servedThrough(
  gw: number,
  upstream: Recorder,
  path: string,
  expected: { status: number; plan?: string },
  options: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ answer: GatewayAnswer; seen: Recorder['received'] }> {
  return eventually(
    () => sendThrough(gw, upstream, path, options),
    (r) => r.answer.status === expected.status && (expected.plan === undefined || (r.seen.length === 1 && r.seen[0]!.headers['x-apip-plan'] === rawId(expected.plan))),
    { timeoutMs: options.timeoutMs ?? 5000, intervalMs: 10, what: `${path} -> ${expected.status}${expected.plan ? ` through plan ${rawId(expected.plan)}` : ''}` },
  );
}

/** Polls every 50 ms (gentler than `gatewayAnswers` for waits of many seconds) until `path` answers `status`. */
export function answersWithin(
  gw: number,
  path: string,
  status: number,
  options: { headers?: Record<string, string>; timeoutMs: number },
): Promise<GatewayAnswer> {
  return eventually(() => send(gw, path, { headers: options.headers ?? {} }), (a) => a.status === status, {
    timeoutMs: options.timeoutMs,
    intervalMs: 50,
    what: `GET ${path} -> ${status}`,
  });
}

/** A status and the JSON error body of a local reply, for one `toEqual`. */
export function replyOf(answer: GatewayAnswer): { status: number; body: unknown } {
  let body: unknown = answer.text;
  try {
    body = answer.json();
  } catch {
    // not JSON: keep the text
  }
  return { status: answer.status, body };
}

export const forgedIdentity = {
  'x-apip-application-id': 'forged-app',
  'x-apip-subscription-id': 'forged-sub',
  'x-apip-plan': 'forged-plan',
};

// ---------------------------------------------------------------------------------------------------------------
// The configuration being served.

/**
 * The Envoy resources served right now pass the strict proto check, mention every `mustContain` string, and the
 * control plane reports no error for the given APIs (an API with an error is left out of the configuration).
 */
export async function expectServedConfigValid(t: TestPlatform, handles: string[], mustContain: string[] = []): Promise<void> {
  const resources = t.platform.snapshots.current()?.resources;
  expect(resources).toBeDefined();
  const text = JSON.stringify(resources);
  for (const s of mustContain) expect(text).toContain(s);
  expect(validateResources(resources!)).toEqual([]);
  const status = await query<{ deploymentStatus: { problems: { api: string | null; severity: string; path: string; message: string }[] } }>(
    t, '{ deploymentStatus { problems { api severity path message } } }',
  );
  const errors = status.deploymentStatus.problems.filter((p) => p.severity === 'error' && (p.api === null || handles.includes(p.api)));
  expect(errors).toEqual([]);
}

/** The control plane's deployment problems (why an API is not served), for failure messages. */
export async function deploymentProblems(t: TestPlatform): Promise<{ api: string | null; severity: string; path: string; message: string }[]> {
  const status = await query<{ deploymentStatus: { problems: { api: string | null; severity: string; path: string; message: string }[] } }>(
    t, '{ deploymentStatus { problems { api severity path message } } }',
  );
  return status.deploymentStatus.problems;
}

/**
 * `gatewayAnswers`, but a timeout also reports the deployment problems: when a plan makes an API untranslatable
 * the API is left out (404), and the problem says why.
 */
export async function waitServed(
  t: TestPlatform,
  gw: number,
  path: string,
  status: number,
  options: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<GatewayAnswer> {
  try {
    return await gatewayAnswers(gw, path, status, options);
  } catch (error: unknown) {
    const problems = await deploymentProblems(t).catch(() => []);
    throw new Error(`${error instanceof Error ? error.message : String(error)}\ndeployment problems: ${JSON.stringify(problems)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Keys and servers.

/** An RSA public JWK (`n`, `e`) as an OpenSSH `ssh-rsa` public key line (RFC 4253 6.6). */
export function sshRsaPublicKey(jwk: Record<string, unknown>, comment = 'test@example.com'): string {
  const str = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  const mpint = (b64url: string) => {
    let b = Buffer.from(b64url, 'base64url');
    while (b.length > 1 && b[0] === 0) b = b.subarray(1);
    if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
    return str(b);
  };
  const blob = Buffer.concat([str(Buffer.from('ssh-rsa')), mpint(String(jwk.e)), mpint(String(jwk.n))]);
  return `ssh-rsa ${blob.toString('base64')} ${comment}`;
}

/** What an RFC 7662 introspection server answers for one token. */
export interface TokenInfo {
  active: boolean;
  client_id?: string;
  scope?: string;
  sub?: string;
  exp?: number;
  [claim: string]: unknown;
}

export interface IntrospectionCall {
  token: string;
  /** The HTTP Basic credentials the gateway sent (`clientId:secret`), or null. */
  credentials: string | null;
  contentType: string | undefined;
}

export interface IntrospectionServer {
  url: string;
  calls: IntrospectionCall[];
  /** Calls made for one token. */
  callsFor(token: string): number;
  tokens: Map<string, TokenInfo>;
  close(): Promise<void>;
}

/**
 * A real RFC 7662 endpoint on 127.0.0.1: POST form `token=…`, client authentication by HTTP Basic (401 when
 * the credentials are not `clientId:clientSecret`); unknown tokens are `{"active":false}`.
 */
export async function startIntrospectionServer(clientId: string, clientSecret: string): Promise<IntrospectionServer> {
  const calls: IntrospectionCall[] = [];
  const tokens = new Map<string, TokenInfo>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const token = form.get('token') ?? '';
      const auth = req.headers.authorization ?? '';
      const credentials = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : null;
      calls.push({ token, credentials, contentType: req.headers['content-type'] });
      const reply = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
      };
      if (req.method !== 'POST') return reply(405, { error: 'invalid_request' });
      const ok = credentials === `${clientId}:${clientSecret}` || credentials === `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`;
      if (!ok) return reply(401, { error: 'invalid_client' });
      reply(200, tokens.get(token) ?? { active: false });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/oauth2/introspect`,
    calls,
    callsFor: (token) => calls.filter((c) => c.token === token).length,
    tokens,
    close: async () => {
      if (!server.listening) return;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Epoch seconds `s` from now. */
export const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s;
