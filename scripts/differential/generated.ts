// Pure: scenarios from the configurations our control plane generates (the golden listeners, test/golden/xds/out):
// each wasm filter's plugin configuration with a set of probe requests on each of its routes, for both hosts to be
// driven alike (no test recorded them, so there is no outcome of ours to replay: see replay-ours.ts).
import type { Pairs, RecordedRequest, RecordedScenario } from './recording.ts';

const START_MS = Date.parse('2026-04-01T10:30:00Z');

/** Credentials and identity headers every module meets in traffic: none, wrong ones, spoofed identity. */
const PROBES: Array<{ name: string; headers: Pairs; query?: string }> = [
  { name: 'no credentials', headers: [] },
  { name: 'bearer token that is no JWT', headers: [['authorization', 'Bearer abc.def.ghi']] },
  { name: 'basic credentials of no user', headers: [['authorization', 'Basic dXNlcjpwYXNz']] },
  { name: 'unknown API key', headers: [['x-api-key', `apip_${'0'.repeat(64)}`]], query: `key=apip_${'0'.repeat(64)}` },
  { name: 'spoofed identity headers', headers: [['x-apip-plan', 'pln_keyed'], ['x-apip-application-id', 'app_1'], ['x-apip-subscription-id', 'sub_k1']] },
  { name: 'duplicate headers', headers: [['x-tier', 'blocked'], ['x-tier', 'gold'], ['authorization', 'Bearer a'], ['authorization', 'Bearer b']] },
];

/** What an introspection endpoint answers every call in these scenarios. */
const INTROSPECTION: RecordedRequest['httpCalls'][number] = {
  cluster: '', headers: [], body: '', timeoutMs: 0,
  response: { headers: [[':status', '200'], ['content-type', 'application/json']], body: '{"active":true,"client_id":"client-1","scope":"catalog:read","sub":"user-1","exp":1775050000}' },
};

interface WasmFilter {
  module: string;
  configuration: string;
  vmId: string;
  rootId: string;
}

function* wasmFilters(node: unknown): Generator<WasmFilter> {
  if (Array.isArray(node)) {
    for (const item of node) yield* wasmFilters(item);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const record = node as Record<string, unknown>;
  const config = (record.typedConfig as { config?: Record<string, unknown> } | undefined)?.config;
  if (typeof record.name === 'string' && record.name.startsWith('envoy.filters.http.wasm/') && config !== undefined) {
    const value = (config.configuration as { value?: unknown } | undefined)?.value;
    yield {
      module: record.name.slice('envoy.filters.http.wasm/'.length),
      configuration: typeof value === 'string' ? value : '',
      vmId: String((config.vmConfig as { vmId?: unknown } | undefined)?.vmId ?? ''),
      rootId: String(config.rootId ?? ''),
    };
    return;
  }
  for (const value of Object.values(record)) yield* wasmFilters(value);
}

/** `<api>/<METHOD>/<template>` → method and a concrete path (each `{param}` filled with 1). */
function requestLine(route: string): { method: string; path: string } {
  const [, method = 'GET', ...template] = route.split('/');
  return { method, path: `/${template.join('/').replace(/\{[^}]*\}/g, '1')}` };
}

function probe(route: string, probeIndex: number, hasIntrospection: boolean): RecordedRequest {
  const { method, path } = requestLine(route);
  const item = PROBES[probeIndex] ?? { name: '', headers: [] };
  const fullPath = item.query ? `${path}?${item.query}` : path;
  return {
    kind: 'request', timeMs: START_MS, routeName: route, sourceAddress: '127.0.0.1:50000',
    requestHeaders: [[':method', method], [':path', fullPath], [':authority', 'api.example.test'], [':scheme', 'http'], ...item.headers],
    requestBody: [], responseHeadersIn: null, httpCalls: hasIntrospection ? [INTROSPECTION, INTROSPECTION] : [],
    requestOutcome: null, upstreamHeaders: null, responseOutcome: null, responseHeadersOut: null,
  };
}

/** One scenario per wasm filter of `listeners` (a golden listeners file, parsed): every probe on every route of its
 *  configuration, and on a route it does not know. */
export function scenariosFromListeners(caseName: string, listeners: unknown): RecordedScenario[] {
  const scenarios: RecordedScenario[] = [];
  for (const filter of wasmFilters(listeners)) {
    let routes: string[] = [];
    try {
      const parsed = JSON.parse(filter.configuration) as { routes?: Record<string, unknown> };
      routes = Object.keys(parsed.routes ?? {});
    } catch {
      routes = [];
    }
    const hasIntrospection = filter.module === 'oauth2';
    const events = [...routes, 'unknown/GET/nowhere'].flatMap((route) => PROBES.map((_, i) => probe(route, i, hasIntrospection)))
      .map((event, i) => ({ ...event, timeMs: START_MS + i * 1000 }));
    scenarios.push({
      name: `test/golden/xds/out/${caseName}.listeners.yaml > ${filter.module}`,
      module: filter.module,
      configuration: Buffer.from(filter.configuration).toString('base64'),
      vmConfiguration: '',
      rootId: filter.rootId,
      startTimeMs: START_MS,
      isConfigured: true,
      hasHttpCaller: hasIntrospection,
      unrenderable: [],
      events,
      final: { metrics: {}, sharedData: {} },
    });
  }
  return scenarios;
}
