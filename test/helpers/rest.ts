import { restPrefix } from '../../server/rest/handler.ts';
import { adminAuth, basicAuth, type TestPlatform } from './platform.ts';
import { responseProblems } from './rest-openapi.ts';
import { rowCounts as countRows } from './row-counts.ts';

export { restPrefix };

export interface RestAnswer<T = unknown> {
  status: number;
  /** Parsed JSON (undefined when the answer had no body); text for non-JSON answers. */
  body: T;
  headers: Headers;
}

export interface RestRequestOptions {
  /** Parsed to JSON unless `raw` is given. */
  body?: unknown;
  /** Sent as is (YAML, malformed JSON). */
  raw?: string;
  contentType?: string;
  /** Authorization header; null = none. @default admin */
  auth?: string | null;
  /** Send to the unprefixed legacy path. @default false */
  legacy?: boolean;
}

/**
 * A v0.9 client for tests: every answer it receives is checked against schema/management-v0.9.yaml and a
 * non-conforming answer fails the test that received it, so the whole suite validates the document.
 */
export function restClient(t: TestPlatform) {
  async function request<T = unknown>(method: string, path: string, options: RestRequestOptions = {}): Promise<RestAnswer<T>> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const auth = options.auth === undefined ? adminAuth : options.auth;
    if (auth) headers.authorization = auth;
    let payload: string | undefined;
    if (method === 'GET' || method === 'HEAD') payload = undefined; // fetch refuses a body there
    else if (options.raw !== undefined) payload = options.raw;
    else if (options.body !== undefined) payload = JSON.stringify(options.body);
    if (payload !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const url = `${t.baseUrl}${options.legacy ? '' : restPrefix}${path}`;
    const res = await fetch(url, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await res.text();
    const contentType = res.headers.get('content-type');
    let body: unknown;
    if (text.length === 0) body = undefined;
    else if (contentType?.startsWith('application/json')) body = JSON.parse(text);
    else body = text;
    // The path as the server saw it: URL normalisation resolves `.` and `..` segments before it is sent.
    const seen = new URL(url).pathname;
    const relative = !options.legacy && seen.startsWith(restPrefix) ? seen.slice(restPrefix.length) : seen;
    const problems = responseProblems(method, relative, res.status, text.length === 0 ? null : contentType, body);
    if (problems.length > 0) throw new Error(`Answer does not conform to the OpenAPI document:\n${problems.join('\n')}\n${text}`);
    return { status: res.status, body: body as T, headers: res.headers };
  }
  return {
    request,
    get: <T = unknown>(path: string, options?: RestRequestOptions) => request<T>('GET', path, options),
    post: <T = unknown>(path: string, body?: unknown, options?: RestRequestOptions) => request<T>('POST', path, { ...options, body }),
    put: <T = unknown>(path: string, body?: unknown, options?: RestRequestOptions) => request<T>('PUT', path, { ...options, body }),
    delete: <T = unknown>(path: string, options?: RestRequestOptions) => request<T>('DELETE', path, options),
  };
}

export type RestClient = ReturnType<typeof restClient>;

/** Creates a user over GraphQL (as the admin) and returns its Basic credentials. */
export async function createUser(t: TestPlatform, username: string, role: 'admin' | 'publisher' | 'consumer'): Promise<string> {
  const password = `${username}-password`;
  const res = await t.graphql<{ createUser: { __typename: string } }>(
    `mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }`,
    { input: { username, password, role } },
  );
  if (res.data?.createUser.__typename !== 'CreateUserPayload') throw new Error(`createUser failed: ${JSON.stringify(res)}`);
  return basicAuth(username, password);
}

/** Row counts of every table of the platform's database (see row-counts.ts). */
export function rowCounts(t: TestPlatform): Promise<Record<string, number>> {
  return countRows(t.platform.database.db);
}
