// The listener's HttpConnectionManager: where routes come from (RDS name or inline) and its HTTP filters in
// order. Supported filters: `envoy.filters.http.wasm` (any number, in order; `disabled` ones run only on routes
// that enable them, per-filter-config.ts) and `envoy.filters.http.router`, which must be last (Envoy's terminal
// filter) and cannot be disabled. An unknown filter is refused unless marked `isOptional`, as Envoy
// does: https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto#extensions-filters-network-http-connection-manager-v3-httpfilter
import { extensionTypeUrls as typeUrls } from '../envoy/resources.ts';
import { durationMs } from './duration.ts';
import type { HeadersWithUnderscores } from './http-headers.ts';
import { arrayAt, booleanAt, ConfigError, isObject, type JsonObject, objectAt, stringAt } from './json-fields.ts';

/** Where a module's bytes come from (AsyncDataSource). */
export type WasmCode =
  | { kind: 'remote'; uri: string; sha256: string; timeoutMs: number }
  | { kind: 'inline'; bytes: Uint8Array };

export interface WasmFilterSpec {
  /** The HTTP filter's name (for logs and metrics). */
  filterName: string;
  pluginName: string;
  rootId: string;
  vmId: string;
  vmConfiguration: string;
  configuration: string;
  code: WasmCode;
  /** PluginConfig.fail_open: a plugin that cannot run is skipped instead of failing requests. */
  failOpen: boolean;
  /** HttpFilter.disabled: off unless a route (or its virtual host) enables it. */
  isDisabled: boolean;
}

export interface ListenerSpec {
  listenerName: string;
  /** RDS route configuration name, or null when the route configuration is inline. */
  routeConfigName: string | null;
  inlineRouteConfig: JsonObject | null;
  /** The wasm filters in chain order (the router, always last, is implied). */
  wasmFilters: WasmFilterSpec[];
  /** HCM `normalize_path` / `merge_slashes` / `path_with_escaped_slashes_action` (REJECT_REQUEST). */
  pathNormalization: { normalizePath: boolean; mergeSlashes: boolean; rejectEscapedSlashes: boolean };
  /** HCM `common_http_protocol_options.headers_with_underscores_action` (ALLOW when absent). */
  headersWithUnderscores: HeadersWithUnderscores;
  /** The filter chain holding the HCM, and the HCM (downstream-listener.ts reads the server's settings there). */
  filterChain: JsonObject;
  hcm: JsonObject;
  where: string;
}

/** A google.protobuf.Any holding a StringValue or BytesValue, as text. */
function anyText(value: JsonObject | undefined, where: string): string {
  if (value === undefined) return '';
  const type = value['@type'];
  if (type === typeUrls.stringValue) return typeof value.value === 'string' ? value.value : '';
  if (type === typeUrls.bytesValue) return typeof value.value === 'string' ? Buffer.from(value.value, 'base64').toString('utf8') : '';
  throw new ConfigError(`${where}: configuration of type ${String(type)} is not supported (StringValue or BytesValue)`);
}

function readCode(vmConfig: JsonObject, where: string): WasmCode {
  const code = objectAt(vmConfig, 'code', where);
  const remote = code === undefined ? undefined : objectAt(code, 'remote', `${where}.code`);
  const local = code === undefined ? undefined : objectAt(code, 'local', `${where}.code`);
  if (remote !== undefined) {
    const httpUri = objectAt(remote, 'httpUri', `${where}.code.remote`);
    const uri = httpUri === undefined ? undefined : stringAt(httpUri, 'uri', `${where}.code.remote.httpUri`);
    const sha256 = stringAt(remote, 'sha256', `${where}.code.remote`);
    if (uri === undefined || httpUri === undefined) throw new ConfigError(`${where}.code.remote.httpUri.uri is required`);
    // Envoy requires the digest of a remote module; without it nothing pins what runs.
    if (sha256 === undefined || !/^[0-9a-fA-F]{64}$/.test(sha256)) throw new ConfigError(`${where}.code.remote.sha256 must be a SHA-256 hex digest`);
    return { kind: 'remote', uri, sha256: sha256.toLowerCase(), timeoutMs: durationMs(httpUri.timeout, 10_000) };
  }
  if (local !== undefined) {
    const bytes = stringAt(local, 'inlineBytes', `${where}.code.local`);
    if (bytes === undefined) throw new ConfigError(`${where}.code.local: only inlineBytes is supported (no files)`);
    return { kind: 'inline', bytes: new Uint8Array(Buffer.from(bytes, 'base64')) };
  }
  throw new ConfigError(`${where}.code needs remote or local`);
}

function readWasmFilter(filterName: string, typed: JsonObject, isDisabled: boolean, where: string): WasmFilterSpec {
  const config = objectAt(typed, 'config', where);
  if (config === undefined) throw new ConfigError(`${where}.config is required`);
  const vmConfig = objectAt(config, 'vmConfig', `${where}.config`);
  if (vmConfig === undefined) throw new ConfigError(`${where}.config.vmConfig is required`);
  const pluginName = stringAt(config, 'name', `${where}.config`) ?? filterName;
  return {
    filterName,
    pluginName,
    rootId: stringAt(config, 'rootId', `${where}.config`) ?? '',
    vmId: stringAt(vmConfig, 'vmId', `${where}.config.vmConfig`) ?? pluginName,
    vmConfiguration: anyText(objectAt(vmConfig, 'configuration', `${where}.config.vmConfig`), `${where}.config.vmConfig.configuration`),
    configuration: anyText(objectAt(config, 'configuration', `${where}.config`), `${where}.config.configuration`),
    code: readCode(vmConfig, `${where}.config.vmConfig`),
    failOpen: booleanAt(config, 'failOpen', `${where}.config`) === true,
    isDisabled,
  };
}

/** HCM `path_with_escaped_slashes_action`: keeping or rejecting is supported; the unescaping actions (which rewrite
 *  the path) are refused rather than silently ignored. */
function escapedSlashesAction(hcm: JsonObject, where: string): 'KEEP_UNCHANGED' | 'REJECT_REQUEST' {
  const action = stringAt(hcm, 'pathWithEscapedSlashesAction', where) ?? 'IMPLEMENTATION_SPECIFIC_DEFAULT';
  if (action === 'REJECT_REQUEST') return action;
  if (action === 'KEEP_UNCHANGED' || action === 'IMPLEMENTATION_SPECIFIC_DEFAULT') return 'KEEP_UNCHANGED';
  throw new ConfigError(`${where}.pathWithEscapedSlashesAction ${action} is not supported (KEEP_UNCHANGED or REJECT_REQUEST)`);
}

function underscoresAction(hcm: JsonObject, where: string): HeadersWithUnderscores {
  const options = objectAt(hcm, 'commonHttpProtocolOptions', where);
  const action = options === undefined ? undefined : stringAt(options, 'headersWithUnderscoresAction', `${where}.commonHttpProtocolOptions`);
  if (action === undefined || action === 'ALLOW' || action === 'REJECT_REQUEST' || action === 'DROP_HEADER') return action ?? 'ALLOW';
  throw new ConfigError(`${where}.commonHttpProtocolOptions.headersWithUnderscoresAction ${action} is not supported`);
}

function findConnectionManager(listener: JsonObject, where: string): { chain: JsonObject; hcm: JsonObject; at: string } | undefined {
  for (const [c, chain] of arrayAt(listener, 'filterChains', where).entries()) {
    for (const [f, filter] of arrayAt(chain, 'filters', `${where}.filterChains[${c}]`).entries()) {
      const typed = objectAt(filter, 'typedConfig', `${where}.filterChains[${c}].filters[${f}]`);
      if (typed?.['@type'] === typeUrls.httpConnectionManager) return { chain, hcm: typed, at: `${where}.filterChains[${c}]` };
    }
  }
  return undefined;
}

/** The listener to serve: `name` when given, else the first listener (by name) with an HttpConnectionManager. */
export function readListener(listeners: readonly unknown[], name?: string): ListenerSpec {
  const candidates = listeners.filter(isObject).filter((listener) => name === undefined || listener.name === name);
  for (const listener of candidates) {
    const listenerName = typeof listener.name === 'string' ? listener.name : '';
    const where = `listener ${JSON.stringify(listenerName)}`;
    const found = findConnectionManager(listener, where);
    if (found === undefined) continue;
    const { hcm } = found;
    const rds = objectAt(hcm, 'rds', where);
    const routeConfigName = rds === undefined ? null : stringAt(rds, 'routeConfigName', `${where}.rds`) ?? null;
    const inlineRouteConfig = objectAt(hcm, 'routeConfig', where) ?? null;
    if (routeConfigName === null && inlineRouteConfig === null) throw new ConfigError(`${where}: the HttpConnectionManager needs rds or routeConfig`);
    const filters = arrayAt(hcm, 'httpFilters', where);
    const wasmFilters: WasmFilterSpec[] = [];
    filters.forEach((filter, i) => {
      const at = `${where}.httpFilters[${i}]`;
      const filterName = stringAt(filter, 'name', at) ?? '';
      const typed = objectAt(filter, 'typedConfig', at);
      const type = typed?.['@type'];
      const isLast = i === filters.length - 1;
      const isDisabled = booleanAt(filter, 'disabled', at) === true;
      if (type === typeUrls.router) {
        if (!isLast) throw new ConfigError(`${at}: the router must be the last HTTP filter`);
        if (isDisabled) throw new ConfigError(`${at}: the router (a terminal filter) cannot be disabled`);
      } else if (type === typeUrls.wasm && typed !== undefined) {
        wasmFilters.push(readWasmFilter(filterName, typed, isDisabled, at));
      } else if (booleanAt(filter, 'isOptional', at) !== true) {
        throw new ConfigError(`${at}: HTTP filter ${filterName} (${String(type)}) is not supported`);
      }
    });
    const last = filters[filters.length - 1];
    if (last === undefined || objectAt(last, 'typedConfig', where)?.['@type'] !== typeUrls.router) {
      throw new ConfigError(`${where}: the HTTP filter chain must end with envoy.filters.http.router`);
    }
    const pathNormalization = {
      normalizePath: booleanAt(hcm, 'normalizePath', where) === true,
      mergeSlashes: booleanAt(hcm, 'mergeSlashes', where) === true,
      rejectEscapedSlashes: escapedSlashesAction(hcm, where) === 'REJECT_REQUEST',
    };
    const headersWithUnderscores = underscoresAction(hcm, where);
    return {
      listenerName, routeConfigName, inlineRouteConfig, wasmFilters, pathNormalization, headersWithUnderscores,
      filterChain: found.chain, hcm, where: found.at,
    };
  }
  throw new ConfigError(name === undefined ? 'no listener with an HttpConnectionManager' : `no listener ${JSON.stringify(name)} with an HttpConnectionManager`);
}
