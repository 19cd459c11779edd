// A route's `direct_response` as Envoy's router answers it: a local reply with the route's status and inline body,
// its `response_headers_to_add` applied first, then `content-type: text/plain` only if they set none (Envoy's
// `Utility::prepareLocalReply`). https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-msg-config-route-v3-directresponseaction
import { arrayAt, ConfigError, type JsonObject, numberAt, objectAt, stringAt } from './json-fields.ts';

export interface DirectResponse {
  readonly kind: 'direct';
  readonly status: number;
  readonly body: string;
  /** Response headers, lower-case names, in order; content-type always present when there is a body. */
  readonly headers: readonly (readonly [string, string])[];
}

/** Actions that add the header to a local reply, which starts with no header (OVERWRITE_IF_EXISTS adds nothing). */
const addingActions = new Set(['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD']);

/** `response_headers_to_add` of a route, as plain headers; Envoy's `%…%` formatters are refused, not copied. */
function headersToAdd(route: JsonObject, where: string): [string, string][] {
  const out: [string, string][] = [];
  arrayAt(route, 'responseHeadersToAdd', where).forEach((option, i) => {
    const at = `${where}.responseHeadersToAdd[${i}]`;
    const header = objectAt(option, 'header', at);
    const key = header === undefined ? undefined : stringAt(header, 'key', `${at}.header`);
    if (header === undefined || key === undefined || key === '') throw new ConfigError(`${at}.header.key is required`);
    const value = stringAt(header, 'value', `${at}.header`) ?? '';
    if (value.includes('%')) throw new ConfigError(`${at}.header.value: header formatters (%…%) are not supported`);
    const action = stringAt(option, 'appendAction', at) ?? 'APPEND_IF_EXISTS_OR_ADD';
    if (!addingActions.has(action) && action !== 'OVERWRITE_IF_EXISTS') throw new ConfigError(`${at}.appendAction: unknown action ${action}`);
    if (!addingActions.has(action)) return;
    const name = key.toLowerCase();
    const existing = out.findIndex(([n]) => n === name);
    if (existing >= 0 && action !== 'APPEND_IF_EXISTS_OR_ADD') {
      if (action === 'OVERWRITE_IF_EXISTS_OR_ADD') out[existing] = [name, value];
      return;
    }
    out.push([name, value]);
  });
  return out;
}

/** Compiles a route with `directResponse`; throws ConfigError on what Envoy would refuse or we do not serve. */
export function compileDirectResponse(route: JsonObject, direct: JsonObject, where: string): DirectResponse {
  const at = `${where}.directResponse`;
  const status = numberAt(direct, 'status', at);
  // DirectResponseAction.status is required and within [200, 600). https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-field-config-route-v3-directresponseaction-status
  if (status === undefined || !Number.isInteger(status) || status < 200 || status >= 600) throw new ConfigError(`${at}.status must be an integer in [200, 600)`);
  const bodySource = objectAt(direct, 'body', at);
  const body = bodySource === undefined ? '' : stringAt(bodySource, 'inlineString', `${at}.body`) ?? '';
  const headers = headersToAdd(route, where);
  if (body === '') return { kind: 'direct', status, body, headers: headers.filter(([name]) => name !== 'content-type') };
  if (!headers.some(([name]) => name === 'content-type')) headers.push(['content-type', 'text/plain']);
  return { kind: 'direct', status, body, headers };
}
