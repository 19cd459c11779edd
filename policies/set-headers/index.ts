// set-headers: sets (overwrites) request headers before the upstream and response headers before the client,
// per route. Plugin configuration: docs/policies.md#set-headers.
import { Action, MapType } from "../lib/abi";
import {
  entryPath, indexPath, memberPath, parseConfigObject, Problems, readArray, readBool, readObject, readString,
} from "../lib/config";
import { isValidHeaderName, isValidHeaderValue, setHeaderRaw } from "../lib/headers";
import { JsonValue } from "../lib/json";
import { PolicyRoot } from "../lib/policy-root";
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
  const items = readArray(section, "headers", path, problems, true);
  for (let i = 0; i < items.length; i++) {
    const itemPath = indexPath(memberPath(path, "headers"), i);
    const item = unchecked(items[i]);
    if (!item.isObject) {
      problems.add(itemPath, "must be an object");
      continue;
    }
    const name = readString(item, "name", itemPath, problems, true).toLowerCase();
    const value = readString(item, "value", itemPath, problems, true);
    if (!isValidHeaderName(name)) problems.add(memberPath(itemPath, "name"), "is not a valid header name");
    if (!isValidHeaderValue(value)) problems.add(memberPath(itemPath, "value"), "contains a control character");
    out.push(new EncodedHeader(String.UTF8.encode(name), String.UTF8.encode(value)));
  }
  return out;
}

class SetHeadersRoot extends PolicyRoot<RouteHeaders> {

  onConfigure(configuration: ArrayBuffer): bool {
    const problems = new Problems();
    const config = parseConfigObject(configuration, problems);
    const routes = new Map<string, RouteHeaders>();
    let stripIdentity = false;
    if (config !== null) {
      stripIdentity = readBool(config, "stripIdentityHeaders", "$", problems, false);
      const routesJson = readObject(config, "routes", "$", problems, true);
      if (routesJson !== null) {
        const names = routesJson.keys!;
        for (let i = 0; i < names.length; i++) {
          const name = unchecked(names[i]);
          const path = entryPath("$.routes", name);
          const route = routesJson.get(name)!;
          if (!route.isObject) {
            problems.add(path, "must be an object");
            continue;
          }
          const headers = new RouteHeaders();
          headers.request = readHeaderList(readObject(route, "request", path, problems, false), memberPath(path, "request"), problems);
          headers.response = readHeaderList(readObject(route, "response", path, problems, false), memberPath(path, "response"), problems);
          routes.set(name, headers);
        }
      }
    }
    return this.commit("set-headers", problems, routes, stripIdentity);
  }

  createHttpContext(contextId: u32): HttpContext {
    return new SetHeadersStream(contextId, this);
  }
}

class SetHeadersStream extends HttpContext {
  policy: SetHeadersRoot;
  route: RouteHeaders | null = null;

  constructor(contextId: u32, root: SetHeadersRoot) {
    super(contextId, root);
    this.policy = root;
  }

  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    const route = policy.enterRequest();
    if (route === null) return policy.skipAction;
    this.route = route;
    const headers = route.request;
    for (let i = 0; i < headers.length; i++) {
      const header = unchecked(headers[i]);
      setHeaderRaw(MapType.RequestHeaders, header.name, header.value);
    }
    return Action.Continue;
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const route = this.route;
    if (route === null) return Action.Continue;
    const headers = route.response;
    for (let i = 0; i < headers.length; i++) {
      const header = unchecked(headers[i]);
      setHeaderRaw(MapType.ResponseHeaders, header.name, header.value);
    }
    return Action.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new SetHeadersRoot());

export * from "../lib/exports";
