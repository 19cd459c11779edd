// The default proxy_http_call transport: Node's fetch to the base URL a cluster resolver returns for the
// module's upstream (cluster) name. The resolver is injectable so the gateway maps Envoy cluster names.
import type { HeaderList, HttpCaller, HttpCallResponse } from './types.ts';

/** Cluster name -> base URL (e.g. `http://127.0.0.1:8081`), or undefined for an unknown cluster. */
export type ClusterResolver = (cluster: string) => string | undefined;

export function createFetchHttpCaller(resolveCluster: ClusterResolver): HttpCaller {
  return async (request) => {
    const base = resolveCluster(request.cluster);
    if (base === undefined) throw new Error(`unknown cluster ${request.cluster}`);
    const pseudo = new Map(request.headers.filter(([name]) => name.startsWith(':')));
    const headers = new Headers();
    for (const [name, value] of request.headers) {
      if (!name.startsWith(':')) headers.append(name, value);
    }
    const authority = pseudo.get(':authority');
    if (authority !== undefined) headers.set('host', authority);
    const method = pseudo.get(':method') ?? 'GET';
    const response = await fetch(new URL(pseudo.get(':path') ?? '/', base), {
      method,
      headers,
      body: method === 'GET' || method === 'HEAD' || request.body.length === 0 ? undefined : Buffer.from(request.body),
      signal: AbortSignal.timeout(request.timeoutMs > 0 ? request.timeoutMs : 60_000),
    });
    const responseHeaders: HeaderList = [[':status', String(response.status)]];
    response.headers.forEach((value, name) => responseHeaders.push([name, value]));
    const result: HttpCallResponse = {
      headers: responseHeaders,
      body: new Uint8Array(await response.arrayBuffer()),
      trailers: [],
    };
    return result;
  };
}
