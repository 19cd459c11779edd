// condition: evaluates the execution conditions of a route's conditional policies (docs/execution-conditions.md)
// and passes the verdicts to the modules after it in `x-apip-conditions` (lib/conditions.ts). First on every route
// it runs on, so it also strips client-sent x-apip-* (a client cannot forge verdicts). Conditions arrive compiled
// by the control plane (server/domain/conditions) and are read once per configuration into trees; a request reads
// only what its conditions use (method, path, headers, query), once. Plugin configuration: docs/policies.md#condition.
import { Action, MapType } from "../lib/abi";
import { CONDITIONS_HEADER_BYTES, VERDICT_ERROR, VERDICT_FALSE, VERDICT_TRUE } from "../lib/conditions";
import { indexPath, memberPath, objectEntries, Problems, readArray, readObject } from "../lib/config";
import { getHeader, getHeaders, Header, setHeaderRaw } from "../lib/headers";
import { JsonValue } from "../lib/json";
import { PolicyRoot, PolicyStream } from "../lib/policy-root";
import { Regex } from "../lib/regex-vm";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";
import { decodeQueryComponent } from "../lib/url";

// Value kinds.
const ERROR: i32 = 0;
const BOOL: i32 = 1;
const INT: i32 = 2;
const STRING: i32 = 3;
const LIST: i32 = 4;
const HEADERS: i32 = 5;
const QUERY: i32 = 6;

class Value {
  kind: i32 = ERROR;
  bool: bool = false;
  int: i64 = 0;
  text: string = "";
  list: Array<Value> | null = null;

  static text(text: string): Value {
    const v = new Value();
    v.kind = STRING;
    v.text = text;
    return v;
  }
  static int(n: i64): Value {
    const v = new Value();
    v.kind = INT;
    v.int = n;
    return v;
  }
  static list(items: Array<Value>): Value {
    const v = new Value();
    v.kind = LIST;
    v.list = items;
    return v;
  }
  static of(kind: i32): Value {
    const v = new Value();
    v.kind = kind;
    return v;
  }
}

// @ts-ignore: decorator
@lazy const TRUE: Value = boolValue(true);
// @ts-ignore: decorator
@lazy const FALSE: Value = boolValue(false);
// @ts-ignore: decorator
@lazy const FAILED: Value = Value.of(ERROR);
// @ts-ignore: decorator
@lazy const HEADERS_MAP: Value = Value.of(HEADERS);
// @ts-ignore: decorator
@lazy const QUERY_MAP: Value = Value.of(QUERY);

function boolValue(b: bool): Value {
  const v = Value.of(BOOL);
  v.bool = b;
  return v;
}

@inline function truth(b: bool): Value {
  return b ? TRUE : FALSE;
}

// Node operators.
const OP_LITERAL: i32 = 0;
const OP_LIST: i32 = 1;
const OP_METHOD: i32 = 2;
const OP_PATH: i32 = 3;
const OP_HEADERS: i32 = 4;
const OP_QUERY: i32 = 5;
const OP_EQ: i32 = 6;
const OP_NE: i32 = 7;
const OP_IN: i32 = 8;
const OP_AND: i32 = 9;
const OP_OR: i32 = 10;
const OP_NOT: i32 = 11;
const OP_INDEX: i32 = 12;
const OP_STARTS: i32 = 13;
const OP_ENDS: i32 = 14;
const OP_CONTAINS: i32 = 15;
const OP_MATCHES: i32 = 16;

class Node {
  op: i32 = 0;
  a: Node | null = null;
  b: Node | null = null;
  items: Array<Node> | null = null;
  /** A literal's value, built once. */
  value: Value = FAILED;
  regex: Regex | null = null;
}

/** The request values a condition reads, each read from the host at most once per request. */
class RequestView {
  method: Value | null = null;
  path: Value | null = null;
  headers: Array<Header> | null = null;
  /** Decoded query pairs; null until read; `queryFailed` when an escape is malformed. */
  query: Array<Header> | null = null;
  queryFailed: bool = false;

  reset(): void {
    this.method = null;
    this.path = null;
    this.headers = null;
    this.query = null;
    this.queryFailed = false;
  }

  methodValue(): Value {
    let v = this.method;
    if (v === null) this.method = v = pseudo(":method");
    return v;
  }

  pathValue(): Value {
    let v = this.path;
    if (v === null) this.path = v = pseudo(":path");
    return v;
  }

  /** The map's pairs: headers without pseudo-headers (names lowercase), or the query's decoded pairs. */
  pairs(kind: i32): Array<Header> | null {
    if (kind == HEADERS) {
      let headers = this.headers;
      if (headers === null) {
        headers = new Array<Header>(0);
        const all = getHeaders(MapType.RequestHeaders);
        for (let i = 0; i < all.length; i++) {
          const h = unchecked(all[i]);
          if (!h.name.startsWith(":")) headers.push(h);
        }
        this.headers = headers;
      }
      return headers;
    }
    if (this.query === null && !this.queryFailed) this.readQuery();
    return this.queryFailed ? null : this.query;
  }

  private readQuery(): void {
    const out = new Array<Header>(0);
    const path = this.pathValue();
    const question = path.kind == STRING ? path.text.indexOf("?") : -1;
    if (question >= 0) {
      const parts = path.text.substring(question + 1).split("&");
      for (let i = 0; i < parts.length; i++) {
        const part = unchecked(parts[i]);
        if (part.length == 0) continue;
        const eq = part.indexOf("=");
        const name = decodeQueryComponent(eq < 0 ? part : part.substring(0, eq));
        const value = decodeQueryComponent(eq < 0 ? "" : part.substring(eq + 1));
        if (name === null || value === null) {
          this.queryFailed = true;
          return;
        }
        out.push(new Header(name, value));
      }
    }
    this.query = out;
  }
}

function pseudo(name: string): Value {
  const text = getHeader(MapType.RequestHeaders, name);
  return text === null ? FAILED : Value.text(text);
}

function equal(a: Value, b: Value): bool {
  if (a.kind != b.kind) return false;
  if (a.kind == STRING) return a.text == b.text;
  if (a.kind == INT) return a.int == b.int;
  return a.bool == b.bool;
}

@inline function isScalar(v: Value): bool {
  return v.kind == STRING || v.kind == INT || v.kind == BOOL;
}

function evaluate(node: Node, request: RequestView): Value {
  const op = node.op;
  if (op == OP_LITERAL) return node.value;
  if (op == OP_METHOD) return request.methodValue();
  if (op == OP_PATH) return request.pathValue();
  if (op == OP_HEADERS) return HEADERS_MAP;
  if (op == OP_QUERY) return QUERY_MAP;
  if (op == OP_LIST) {
    const items = node.items!;
    const out = new Array<Value>(items.length);
    for (let i = 0; i < items.length; i++) {
      const v = evaluate(unchecked(items[i]), request);
      if (v.kind == ERROR) return FAILED;
      unchecked(out[i] = v);
    }
    return Value.list(out);
  }
  // CEL's commutative logic: false && x is false, true || x is true, whichever side errs.
  if (op == OP_AND || op == OP_OR) {
    const stop = op == OP_OR;
    const a = evaluate(node.a!, request);
    if (a.kind == BOOL && a.bool == stop) return a;
    const b = evaluate(node.b!, request);
    if (b.kind == BOOL && b.bool == stop) return b;
    if (a.kind != BOOL || b.kind != BOOL) return FAILED;
    return truth(!stop);
  }
  const a = evaluate(node.a!, request);
  if (a.kind == ERROR) return FAILED;
  if (op == OP_NOT) return a.kind == BOOL ? truth(!a.bool) : FAILED;
  const b = evaluate(node.b!, request);
  if (b.kind == ERROR) return FAILED;
  if (op == OP_EQ || op == OP_NE) {
    if (!isScalar(a) || a.kind != b.kind) return FAILED;
    return truth(equal(a, b) == (op == OP_EQ));
  }
  if (op == OP_IN) {
    if (b.kind == LIST) {
      const items = b.list!;
      for (let i = 0; i < items.length; i++) if (equal(a, unchecked(items[i]))) return TRUE;
      return FALSE;
    }
    if (a.kind != STRING) return FAILED;
    const pairs = request.pairs(b.kind);
    if (pairs === null) return FAILED;
    for (let i = 0; i < pairs.length; i++) if (unchecked(pairs[i]).name == a.text) return TRUE;
    return FALSE;
  }
  if (op == OP_INDEX) {
    if (a.kind == LIST) {
      const items = a.list!;
      if (b.kind != INT || b.int < 0 || b.int >= <i64>items.length) return FAILED;
      return unchecked(items[<i32>b.int]);
    }
    if (b.kind != STRING) return FAILED;
    const pairs = request.pairs(a.kind);
    if (pairs === null) return FAILED;
    const values = new Array<Value>(0);
    for (let i = 0; i < pairs.length; i++) {
      const pair = unchecked(pairs[i]);
      if (pair.name == b.text) values.push(Value.text(pair.value));
    }
    // A missing key is an error in CEL (`"k" in m` tests for it).
    return values.length == 0 ? FAILED : Value.list(values);
  }
  if (a.kind != STRING || b.kind != STRING) return FAILED;
  if (op == OP_STARTS) return truth(a.text.startsWith(b.text));
  if (op == OP_ENDS) return truth(a.text.endsWith(b.text));
  if (op == OP_CONTAINS) return truth(a.text.includes(b.text));
  return truth(node.regex!.matches(a.text));
}

/** A compiled condition's JSON tree (server/domain/conditions/compile.ts) as nodes, or null after a problem. */
function readNode(json: JsonValue, path: string, problems: Problems, depth: i32): Node | null {
  const items = json.items;
  if (depth > 40 || items === null || items.length == 0 || !unchecked(items[0]).isString) {
    problems.add(path, "must be a condition node");
    return null;
  }
  const head = unchecked(items[0]).stringValue;
  const n = items.length;
  const node = new Node();
  if (head == "s" || head == "i" || head == "b") {
    const v = n == 2 ? unchecked(items[1]) : null;
    if (v !== null && head == "s" && v.isString) node.value = Value.text(v.stringValue);
    else if (v !== null && head == "b" && v.isBool) node.value = truth(v.boolValue);
    else if (v !== null && head == "i" && v.isNumber && Math.floor(v.numberValue) == v.numberValue && Math.abs(v.numberValue) <= 2147483648) {
      node.value = Value.int(<i64>v.numberValue);
    } else {
      problems.add(path, "must be a literal");
      return null;
    }
    node.op = OP_LITERAL;
    return node;
  }
  if (head == "list") {
    node.op = OP_LIST;
    const list = new Array<Node>(0);
    for (let i = 1; i < n; i++) {
      const item = readNode(unchecked(items[i]), indexPath(path, i), problems, depth + 1);
      if (item === null) return null;
      list.push(item);
    }
    node.items = list;
    return node;
  }
  let arity = 2;
  if (head == "method") node.op = OP_METHOD, arity = 0;
  else if (head == "path") node.op = OP_PATH, arity = 0;
  else if (head == "headers") node.op = OP_HEADERS, arity = 0;
  else if (head == "query") node.op = OP_QUERY, arity = 0;
  else if (head == "!") node.op = OP_NOT, arity = 1;
  else if (head == "==") node.op = OP_EQ;
  else if (head == "!=") node.op = OP_NE;
  else if (head == "in") node.op = OP_IN;
  else if (head == "&&") node.op = OP_AND;
  else if (head == "||") node.op = OP_OR;
  else if (head == "[]") node.op = OP_INDEX;
  else if (head == "startsWith") node.op = OP_STARTS;
  else if (head == "endsWith") node.op = OP_ENDS;
  else if (head == "contains") node.op = OP_CONTAINS;
  else if (head == "matches") node.op = OP_MATCHES;
  else {
    problems.add(path, "has an unknown operator '" + head + "'");
    return null;
  }
  if (n != arity + 1) {
    problems.add(path, "'" + head + "' takes " + arity.toString() + " operands");
    return null;
  }
  if (arity >= 1) {
    node.a = readNode(unchecked(items[1]), indexPath(path, 1), problems, depth + 1);
    if (node.a === null) return null;
  }
  if (node.op == OP_MATCHES) {
    node.regex = Regex.read(unchecked(items[2]), indexPath(path, 2), problems);
    if (node.regex === null) return null;
    // The operand node is unused: the subject is `a`, the program is the regex.
    node.b = node.a;
  } else if (arity == 2) {
    node.b = readNode(unchecked(items[2]), indexPath(path, 2), problems, depth + 1);
    if (node.b === null) return null;
  }
  return node;
}

class RouteConditions {
  conditions: Array<Node> = new Array<Node>(0);
  /** The verdicts, one byte each, rewritten per request. */
  verdicts: ArrayBuffer = new ArrayBuffer(0);
}

class ConditionRoot extends PolicyRoot<RouteConditions> {
  request: RequestView = new RequestView();

  onConfigure(configuration: ArrayBuffer): bool {
    return this.configure("condition", configuration);
  }

  readRoutes(config: JsonValue, problems: Problems): Map<string, RouteConditions> {
    const routes = new Map<string, RouteConditions>();
    const entries = objectEntries(readObject(config, "routes", "$", problems, true), "$.routes", problems);
    while (entries.next()) {
      const route = new RouteConditions();
      const list = readArray(entries.value, "conditions", entries.path, problems, true);
      const listPath = memberPath(entries.path, "conditions");
      if (list.length == 0) problems.add(listPath, "must list at least one condition");
      for (let i = 0; i < list.length; i++) {
        const node = readNode(unchecked(list[i]), indexPath(listPath, i), problems, 0);
        if (node !== null) route.conditions.push(node);
      }
      route.verdicts = new ArrayBuffer(route.conditions.length);
      routes.set(entries.name, route);
    }
    return routes;
  }

  createHttpContext(contextId: u32): HttpContext {
    return new ConditionStream(contextId, this);
  }
}

class ConditionStream extends PolicyStream<ConditionRoot> {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    const route = policy.enterRequest();
    if (route === null) return policy.skipAction;
    const request = policy.request;
    request.reset();
    const conditions = route.conditions;
    const verdicts = route.verdicts;
    const out = changetype<usize>(verdicts);
    for (let i = 0; i < conditions.length; i++) {
      const v = evaluate(unchecked(conditions[i]), request);
      store<u8>(out + <usize>i, v.kind != BOOL ? VERDICT_ERROR : v.bool ? VERDICT_TRUE : VERDICT_FALSE);
    }
    setHeaderRaw(MapType.RequestHeaders, CONDITIONS_HEADER_BYTES, verdicts);
    return Action.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new ConditionRoot());

export * from "../lib/exports";
