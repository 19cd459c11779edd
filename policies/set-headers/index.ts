// set-headers: sets (overwrites) request headers before the upstream and response headers before the client,
// per route, and per plan: `planPolicies[x-apip-plan]` applies first (a plan policy), then the route's entry, whose
// sets therefore win. The plan is read once, at request time, and its response headers go on that request's
// response. Plugin configuration: docs/policies.md#set-headers.
import { Action, MapType } from "../lib/abi";
import { memberPath, objectEntries, Problems, readArray, readObject } from "../lib/config";
import { getHeaderRaw, readHeaderItems, setHeaderRaw } from "../lib/headers";
import { PLAN_HEADER_BYTES } from "../lib/identity";
import { JsonValue } from "../lib/json";
import { PolicyRoot, PolicyStream } from "../lib/policy-root";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";

/** A header to set, name and value UTF-8 encoded once at configure time. */
class EncodedHeader {
  constructor(public name: ArrayBuffer, public value: ArrayBuffer) {}
}

class RouteHeaders {
  request: Array<EncodedHeader> = new Array<EncodedHeader>(0);
  response: Array<EncodedHeader> = new Array<EncodedHeader>(0);
}

function readHeaderList(section: JsonValue | null, path: string, problems: Problems): Array<EncodedHeader> {
  const out = new Array<EncodedHeader>(0);
  if (section === null) return out;
  const items = readHeaderItems(readArray(section, "headers", path, problems, true), path, problems);
  for (let i = 0; i < items.length; i++) {
    const header = unchecked(items[i]);
    out.push(new EncodedHeader(String.UTF8.encode(header.name), String.UTF8.encode(header.value)));
  }
  return out;
}

/** Entries of `key` (`routes` or `planPolicies`): name -> request and response headers. */
function readEntries(config: JsonValue, key: string, problems: Problems, required: bool): Map<string, RouteHeaders> {
  const table = new Map<string, RouteHeaders>();
  const entries = objectEntries(readObject(config, key, "$", problems, required), "$." + key, problems);
  while (entries.next()) {
    const entry = entries.value;
    const path = entries.path;
    const headers = new RouteHeaders();
    headers.request = readHeaderList(readObject(entry, "request", path, problems, false), memberPath(path, "request"), problems);
    headers.response = readHeaderList(readObject(entry, "response", path, problems, false), memberPath(path, "response"), problems);
    table.set(entries.name, headers);
  }
  return table;
}

function applyHeaders(map: i32, headers: Array<EncodedHeader>): void {
  for (let i = 0; i < headers.length; i++) {
    const header = unchecked(headers[i]);
    setHeaderRaw(map, header.name, header.value);
  }
}

class SetHeadersRoot extends PolicyRoot<RouteHeaders> {
  /** Plan policies by plan id (what `x-apip-plan` carries). */
  planPolicies: Map<string, RouteHeaders> = new Map<string, RouteHeaders>();

  onConfigure(configuration: ArrayBuffer): bool {
    return this.configure("set-headers", configuration);
  }

  readRoutes(config: JsonValue, problems: Problems): Map<string, RouteHeaders> {
    this.planPolicies = readEntries(config, "planPolicies", problems, false);
    return readEntries(config, "routes", problems, true);
  }

  createHttpContext(contextId: u32): HttpContext {
    return new SetHeadersStream(contextId, this);
  }
}

class SetHeadersStream extends PolicyStream<SetHeadersRoot> {
  route: RouteHeaders | null = null;
  /** The plan policy of the plan that admitted the request, remembered for its response. */
  plan: RouteHeaders | null = null;

  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    const route = policy.enterRequest();
    if (route === null && policy.skipAction != Action.Continue) return policy.skipAction;
    const planPolicies = policy.planPolicies;
    if (planPolicies.size > 0) {
      const planBytes = getHeaderRaw(MapType.RequestHeaders, PLAN_HEADER_BYTES);
      if (planBytes !== null) {
        const planId = String.UTF8.decode(planBytes);
        if (planPolicies.has(planId)) {
          const plan = planPolicies.get(planId);
          this.plan = plan;
          applyHeaders(MapType.RequestHeaders, plan.request);
        }
      }
    }
    this.route = route;
    if (route !== null) applyHeaders(MapType.RequestHeaders, route.request);
    return Action.Continue;
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const plan = this.plan;
    if (plan !== null) applyHeaders(MapType.ResponseHeaders, plan.response);
    const route = this.route;
    if (route !== null) applyHeaders(MapType.ResponseHeaders, route.response);
    return Action.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new SetHeadersRoot());

export * from "../lib/exports";
