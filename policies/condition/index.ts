// condition: evaluates the execution conditions of a route's conditional policies (docs/execution-conditions.md)
// and passes the verdicts to the modules after it in `x-apip-conditions` (lib/conditions.ts). First on every route
// it runs on, so it also strips client-sent x-apip-* (a client cannot forge verdicts). Conditions arrive compiled
// by the control plane (server/domain/conditions) and are read once per configuration into trees; a request reads
// only what its conditions use (method, path, headers, query), once. Plugin configuration: docs/policies.md#condition.
import { Action, MapType } from "../lib/abi";
import { CONDITIONS_HEADER_BYTES, VERDICT_ERROR, VERDICT_FALSE, VERDICT_TRUE } from "../lib/conditions";
import { indexPath, memberPath, objectEntries, Problems, readArray, readBool, readObject } from "../lib/config";
import { getHeaderPairsRaw, Header, setHeaderRaw } from "../lib/headers";
import { StripRule, stripIdentityHeadersOf } from "../lib/identity";
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
  /** A literal's value, built once; a string literal's UTF-8 bytes too (header lookups). */
  value: Value = FAILED;
  keyBytes: ArrayBuffer | null = null;
  regex: Regex | null = null;
}

// @ts-ignore: decorator
@lazy const METHOD_BYTES = String.UTF8.encode(":method");
// @ts-ignore: decorator
@lazy const PATH_BYTES = String.UTF8.encode(":path");

/**
 * The request values a condition reads, each read at most once per request: the header map is fetched once, as the
 * host serialises it, and scanned for the names asked (no header is decoded unless a condition reads its value).
 */
class RequestView {
  private raw: ArrayBuffer | null = null;
  method: Value | null = null;
  path: Value | null = null;
  /** Decoded query pairs; null until read; `queryFailed` when an escape is malformed. */
  query: Array<Header> | null = null;
  queryFailed: bool = false;

  /** Starts a request from the header map as fetched (the module strips identity headers from it first). */
  reset(raw: ArrayBuffer | null): void {
    this.raw = raw;
    this.method = null;
    this.path = null;
    this.query = null;
    this.queryFailed = false;
  }

  /**
   * The values of header `name` (lowercase UTF-8), at most `limit` of them (1 to test presence), decoded only when
   * `decode`; `out` collects them.
   */
  scan(name: ArrayBuffer, limit: i32, decode: bool, out: Array<Value> | null): i32 {
    let raw = this.raw;
    if (raw === null) this.raw = raw = getHeaderPairsRaw(MapType.RequestHeaders);
    const size = <usize>raw.byteLength;
    if (size < 4) return 0;
    const base = changetype<usize>(raw);
    const count = <usize>load<u32>(base);
    if (count > (size - 4) / 8) return 0;
    const wanted = changetype<usize>(name);
    const wantedLength = <usize>name.byteLength;
    let data = base + 4 + count * 8;
    const end = base + size;
    let found = 0;
    for (let i: usize = 0; i < count && found < limit; i++) {
      const keyLength = <usize>load<u32>(base + 4 + i * 8);
      const valueLength = <usize>load<u32>(base + 8 + i * 8);
      if (data + keyLength + valueLength + 2 > end) break;
      if (keyLength == wantedLength && memory.compare(data, wanted, keyLength) == 0) {
        found++;
        if (decode && out !== null) out.push(Value.text(String.UTF8.decodeUnsafe(data + keyLength + 1, valueLength)));
      }
      data += keyLength + valueLength + 2;
    }
    return found;
  }

  private pseudo(name: ArrayBuffer): Value {
    const values = new Array<Value>(0);
    this.scan(name, 1, true, values);
    return values.length == 0 ? FAILED : unchecked(values[0]);
  }

  methodValue(): Value {
    let v = this.method;
    if (v === null) this.method = v = this.pseudo(METHOD_BYTES);
    return v;
  }

  pathValue(): Value {
    let v = this.path;
    if (v === null) this.path = v = this.pseudo(PATH_BYTES);
    return v;
  }

  /** The query's decoded pairs, or null when an escape is malformed (then every read of request.Query errs). */
  queryPairs(): Array<Header> | null {
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

/** A map key as the header scan wants it: a literal's bytes (encoded once), or the value's, encoded now. */
function keyBytes(node: Node, key: Value): ArrayBuffer {
  const literal = node.keyBytes;
  return literal !== null ? literal : String.UTF8.encode(key.text);
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
    // Header names are lowercase: a key with an uppercase letter is in no header map (as in the reference).
    if (b.kind == HEADERS) return truth(request.scan(keyBytes(node.a!, a), 1, false, null) > 0);
    const pairs = request.queryPairs();
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
    const values = new Array<Value>(0);
    if (a.kind == HEADERS) request.scan(keyBytes(node.b!, b), i32.MAX_VALUE, true, values);
    else {
      const pairs = request.queryPairs();
      if (pairs === null) return FAILED;
      for (let i = 0; i < pairs.length; i++) {
        const pair = unchecked(pairs[i]);
        if (pair.name == b.text) values.push(Value.text(pair.value));
      }
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
    if (v !== null && head == "s" && v.isString) {
      node.value = Value.text(v.stringValue);
      node.keyBytes = String.UTF8.encode(v.stringValue);
    }
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
    // A list of literals is one value, built once (`request.Method in ["POST", "PUT"]` allocates nothing per request).
    let constant = true;
    for (let i = 0; i < list.length; i++) if (unchecked(list[i]).op != OP_LITERAL) constant = false;
    if (constant) {
      const values = new Array<Value>(list.length);
      for (let i = 0; i < list.length; i++) unchecked(values[i] = unchecked(list[i]).value);
      node.op = OP_LITERAL;
      node.value = Value.list(values);
    }
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
  stripsItself: bool = false;

  commit(policy: string, problems: Problems, routes: Map<string, RouteConditions>, strip: StripRule): bool {
    if (this.stripsItself) strip.all = false;
    return super.commit(policy, problems, routes, strip);
  }

  onConfigure(configuration: ArrayBuffer): bool {
    return this.configure("condition", configuration);
  }

  readRoutes(config: JsonValue, problems: Problems): Map<string, RouteConditions> {
    // First on every route it runs on (the translator puts it first): it strips client identity headers itself,
    // from the header map it reads conditions from, rather than through enterRequest (one serialisation, not two).
    this.stripsItself = readBool(config, "stripIdentityHeaders", "$", problems, false);
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
    let raw: ArrayBuffer | null = null;
    if (policy.stripsItself && policy.isConfigured) {
      raw = getHeaderPairsRaw(MapType.RequestHeaders);
      // Forged x-apip-* removed: the map is read again, without them, if a condition asks.
      if (stripIdentityHeadersOf(raw)) raw = null;
    }
    const route = policy.enterRequest();
    if (route === null) return policy.skipAction;
    const request = policy.request;
    request.reset(raw);
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
