// basic-auth: HTTP Basic credentials (RFC 7617) checked against user sets holding salted PBKDF2-HMAC-SHA256 hashes,
// never clear passwords. A request applies `planPolicies[x-apip-plan]` (a plan policy) and then `routes[route]` (an
// API or operation policy); each entry it finds must accept the credential. A credential that verified is cached by
// the SHA-256 of the Authorization value, so PBKDF2 runs once per credential, not once per request.
// PBKDF2 runs on the data plane's event loop, so uncached checks (new credentials, wrong passwords, unknown users)
// share a budget of iterations per second (`pbkdf2IterationsPerSecond`); over it the request gets 429 without any
// hashing, so a flood of wrong passwords cannot stall the gateway.
// Plugin configuration: docs/policies.md#basic-auth.
import { Action, MapType, MetricType, proxy_define_metric, proxy_increment_metric, Status } from "../lib/abi";
import {
  arrayEntries, indexPath, memberPath, objectEntries, Problems, readBool, readInteger, readObject, readString,
} from "../lib/config";
import { pbkdf2Sha256 } from "../lib/crypto/pbkdf2";
import { sha256Hex } from "../lib/crypto/sha256";
import { base64Decode, base64UrlDecode, constantTimeEqual } from "../lib/encoding";
import { getHeaderRaw, Header, isValidHeaderValue, removeHeaderOf, setHeaderOf } from "../lib/headers";
import { PLAN_HEADER_BYTES } from "../lib/identity";
import { JsonValue } from "../lib/json";
import { nowMillis } from "../lib/properties";
import { PolicyRoot, PolicyStream } from "../lib/policy-root";
import { sendJsonError } from "../lib/reply";
import { RETURN_U32 } from "../lib/memory";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";

const MAX_ITERATIONS: u32 = 1_000_000;
const CACHE_SIZE: i32 = 256;
/** Default budget of uncached PBKDF2 work: 3 checks a second at 100,000 iterations, ~0.3-0.4 s of a core (docs/security.md). */
const DEFAULT_ITERATIONS_PER_SECOND: f64 = 300_000;
const HASH_PREFIX = "pbkdf2-sha256$";

// @ts-ignore: decorator
@lazy const AUTHORIZATION = String.UTF8.encode("authorization");
// @ts-ignore: decorator
@lazy const USER_ID_HEADER = String.UTF8.encode("x-apip-user-id");

/** One user: the parts of its `pbkdf2-sha256$<iterations>$<salt>$<derived key>` hash, decoded once. */
class User {
  constructor(
    public username: string,
    /** The hash as configured: a verified credential stays valid while its user keeps this exact hash. */
    public hash: string,
    public iterations: u32,
    public salt: ArrayBuffer,
    public derivedKey: ArrayBuffer,
  ) {}
}

class UserSet {
  users: Map<string, User> = new Map<string, User>();
  /** Verified against when the username is unknown, so a wrong username costs what a wrong password does. */
  decoy: User | null = null;
}

/** One plan-policy or route entry. */
class Entry {
  users: UserSet = new UserSet();
  propagateCredential: bool = false;
  /** `Basic realm="<realm>"`, the challenge of every 401. */
  challenge: Array<Header> = new Array<Header>(0);
}

/** Verified credentials: SHA-256 of the Authorization value -> the user record it matched. FIFO-bounded. */
class CredentialCache {
  private readonly map: Map<string, User> = new Map<string, User>();
  private readonly ring: StaticArray<string | null> = new StaticArray<string | null>(CACHE_SIZE);
  private next: i32 = 0;

  get(digest: string): User | null {
    return this.map.has(digest) ? this.map.get(digest) : null;
  }

  put(digest: string, user: User): void {
    if (this.map.has(digest)) {
      this.map.set(digest, user);
      return;
    }
    const evicted = unchecked(this.ring[this.next]);
    if (evicted !== null) this.map.delete(evicted);
    unchecked(this.ring[this.next] = digest);
    this.next = this.next + 1 == CACHE_SIZE ? 0 : this.next + 1;
    this.map.set(digest, user);
  }
}

/** Positive decimal without sign or leading zero, at most `max`; 0 when it is not one. */
function parseCount(text: string, max: u32): u32 {
  if (text.length == 0 || text.length > 7 || text.charCodeAt(0) == 48) return 0;
  let n: u32 = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return 0;
    n = n * 10 + <u32>(c - 48);
  }
  return n <= max ? n : 0;
}

function readUser(item: JsonValue, path: string, problems: Problems): User | null {
  const username = readString(item, "username", path, problems, true);
  if (username.length == 0 || username.includes(":") || !isValidHeaderValue(username)) {
    problems.add(memberPath(path, "username"), "must be non-empty, without ':' or control characters");
  }
  const hash = readString(item, "hash", path, problems, true);
  const hashPath = memberPath(path, "hash");
  if (!hash.startsWith(HASH_PREFIX)) {
    problems.add(hashPath, "must be pbkdf2-sha256$<iterations>$<salt base64url>$<derived key base64url>");
    return null;
  }
  const parts = hash.substring(HASH_PREFIX.length).split("$");
  if (parts.length != 3) {
    problems.add(hashPath, "must be pbkdf2-sha256$<iterations>$<salt base64url>$<derived key base64url>");
    return null;
  }
  const iterations = parseCount(unchecked(parts[0]), MAX_ITERATIONS);
  if (iterations == 0) problems.add(hashPath, "iterations must be an integer in [1, 1000000]");
  const salt = base64UrlDecode(unchecked(parts[1]));
  if (salt === null || salt.byteLength < 8 || salt.byteLength > 64) problems.add(hashPath, "salt must be 8..64 bytes in base64url");
  const derivedKey = base64UrlDecode(unchecked(parts[2]));
  if (derivedKey === null || derivedKey.byteLength < 16 || derivedKey.byteLength > 64) {
    problems.add(hashPath, "derived key must be 16..64 bytes in base64url");
  }
  if (iterations == 0 || salt === null || derivedKey === null) return null;
  return new User(username, hash, iterations, salt, derivedKey);
}

function readUserSets(config: JsonValue, problems: Problems): Map<string, UserSet> {
  const sets = new Map<string, UserSet>();
  const entries = arrayEntries(readObject(config, "users", "$", problems, true), "$.users", problems);
  while (entries.next()) {
    const path = entries.path;
    const set = new UserSet();
    const list = entries.value.items!;
    for (let u = 0; u < list.length; u++) {
      const itemPath = indexPath(path, u);
      const item = unchecked(list[u]);
      if (!item.isObject) {
        problems.add(itemPath, "must be an object");
        continue;
      }
      const user = readUser(item, itemPath, problems);
      if (user === null) continue;
      if (set.users.has(user.username)) {
        problems.add(memberPath(itemPath, "username"), "duplicates another user of this set");
        continue;
      }
      set.users.set(user.username, user);
      if (set.decoy === null) set.decoy = user;
    }
    sets.set(entries.name, set);
  }
  return sets;
}

function readEntries(
  config: JsonValue, key: string, sets: Map<string, UserSet>, problems: Problems, required: bool,
): Map<string, Entry> {
  const table = new Map<string, Entry>();
  const entries = objectEntries(readObject(config, key, "$", problems, required), "$." + key, problems);
  while (entries.next()) {
    const path = entries.path;
    const item = entries.value;
    const entry = new Entry();
    const setName = readString(item, "users", path, problems, true);
    if (sets.has(setName)) entry.users = sets.get(setName);
    else problems.add(memberPath(path, "users"), "must name a user set of $.users");
    const realm = readString(item, "realm", path, problems, false, "api");
    if (realm.length == 0 || realm.includes("\"") || realm.includes("\\") || !isValidHeaderValue(realm)) {
      problems.add(memberPath(path, "realm"), "must be non-empty, without '\"', '\\' or control characters");
    }
    entry.challenge.push(new Header("www-authenticate", "Basic realm=\"" + realm + "\""));
    entry.propagateCredential = readBool(item, "propagateCredential", path, problems, false);
    table.set(entries.name, entry);
  }
  return table;
}

/** Counter of PBKDF2 runs (cache misses: new credentials, wrong passwords, unknown users); 0 = not defined. */
let pbkdf2Metric: u32 = 0;

function definePbkdf2Metric(): void {
  if (pbkdf2Metric != 0) return;
  const name = String.UTF8.encode("apip_basic_auth_pbkdf2_total");
  store<u32>(RETURN_U32, 0);
  if (proxy_define_metric(MetricType.Counter, changetype<usize>(name), <usize>name.byteLength, RETURN_U32) == Status.Ok) {
    pbkdf2Metric = load<u32>(RETURN_U32);
  }
}

/**
 * Token bucket of PBKDF2 iterations, refilled at `rate` per second up to one second's worth: what uncached checks
 * may spend. Time comes from the host clock (data-plane time).
 */
class WorkBudget {
  rate: f64 = DEFAULT_ITERATIONS_PER_SECOND;
  tokens: f64 = DEFAULT_ITERATIONS_PER_SECOND;
  at: u64 = 0;

  /** Takes `iterations` from the budget; false (nothing taken) when it does not hold them. */
  take(iterations: u32): bool {
    const now = nowMillis();
    if (now > this.at) {
      this.tokens = Math.min(this.rate, this.tokens + <f64>(now - this.at) * this.rate / 1000);
      this.at = now;
    }
    if (this.tokens < <f64>iterations) return false;
    this.tokens -= <f64>iterations;
    return true;
  }
}

class BasicAuthRoot extends PolicyRoot<Entry> {
  planPolicies: Map<string, Entry> = new Map<string, Entry>();
  cache: CredentialCache = new CredentialCache();
  budget: WorkBudget = new WorkBudget();

  onConfigure(configuration: ArrayBuffer): bool {
    definePbkdf2Metric();
    // The cache survives a new configuration (every snapshot push brings one): an entry counts only while its user
    // has the same hash (see decide), so a changed or removed user is verified again and nobody else pays PBKDF2.
    return this.configure("basic-auth", configuration);
  }

  readRoutes(config: JsonValue, problems: Problems): Map<string, Entry> {
    const sets = readUserSets(config, problems);
    this.planPolicies = readEntries(config, "planPolicies", sets, problems, false);
    const rate = readInteger(config, "pbkdf2IterationsPerSecond", "$", problems, false, DEFAULT_ITERATIONS_PER_SECOND, 1, 1e9);
    if (rate != this.budget.rate) {
      this.budget.rate = rate;
      this.budget.tokens = rate;
    }
    return readEntries(config, "routes", sets, problems, true);
  }

  createHttpContext(contextId: u32): HttpContext {
    return new BasicAuthStream(contextId, this);
  }
}

/**
 * The Authorization value of a request: its digest (the cache key) at once, the username and password only when
 * the cache does not answer.
 */
class Presented {
  readonly digest: string;
  private decoded: bool = false;
  /** Null until decoded, and when the value is not `Basic base64(user:pass)` with a non-empty user. */
  username: string | null = null;
  password: ArrayBuffer = new ArrayBuffer(0);

  constructor(private raw: ArrayBuffer) {
    this.digest = sha256Hex(raw);
  }

  /** False when the value is malformed. */
  decode(): bool {
    if (!this.decoded) {
      this.decoded = true;
      const token = String.UTF8.decode(this.raw).substring(6).trim();
      let bytes: ArrayBuffer | null = null;
      if (token.length > 0) bytes = base64Decode(token);
      if (bytes !== null) {
        const base = changetype<usize>(bytes);
        const length = bytes.byteLength;
        let colon = -1;
        for (let i = 0; i < length; i++) {
          if (load<u8>(base + <usize>i) == 0x3a) {
            colon = i;
            break;
          }
        }
        if (colon > 0) {
          this.username = String.UTF8.decodeUnsafe(base, <usize>colon);
          this.password = bytes.slice(colon + 1);
        }
      }
    }
    return this.username !== null;
  }
}

/** True when `raw` starts with "basic " (scheme compared case-insensitively). */
function hasBasicScheme(raw: ArrayBuffer): bool {
  if (raw.byteLength < 6) return false;
  const p = changetype<usize>(raw);
  return (load<u8>(p) | 0x20) == 0x62 && (load<u8>(p + 1) | 0x20) == 0x61 && (load<u8>(p + 2) | 0x20) == 0x73
    && (load<u8>(p + 3) | 0x20) == 0x69 && (load<u8>(p + 4) | 0x20) == 0x63 && load<u8>(p + 5) == 0x20;
}

/** True when `password` derives the user's key (PBKDF2, constant-time comparison). */
function verify(user: User, password: ArrayBuffer): bool {
  if (pbkdf2Metric != 0) proxy_increment_metric(pbkdf2Metric, 1);
  const derived = pbkdf2Sha256(password, user.salt, user.iterations, user.derivedKey.byteLength);
  return constantTimeEqual(derived, user.derivedKey);
}

// Outcomes of checking one entry.
const ADMITTED = 0;
const MISSING = 1;
const INVALID = 2;
const THROTTLED = 3;

class BasicAuthStream extends PolicyStream<BasicAuthRoot> {
  /** The user the last successful check proved. */
  user: User | null = null;

  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    const route = policy.enterRequest();
    if (route === null && policy.skipAction != Action.Continue) return policy.skipAction;
    let plan: Entry | null = null;
    if (policy.planPolicies.size > 0) {
      const planBytes = getHeaderRaw(MapType.RequestHeaders, PLAN_HEADER_BYTES);
      if (planBytes !== null) {
        const planId = String.UTF8.decode(planBytes);
        if (policy.planPolicies.has(planId)) plan = policy.planPolicies.get(planId);
      }
    }
    if (plan === null && route === null) return Action.Continue;

    const raw = getHeaderRaw(MapType.RequestHeaders, AUTHORIZATION);
    let presented: Presented | null = null;
    if (raw !== null && hasBasicScheme(raw)) presented = new Presented(raw);
    let propagate = false;
    if (plan !== null) {
      const outcome = this.check(plan, presented);
      if (outcome != ADMITTED) return refuse(plan, outcome);
      propagate = plan.propagateCredential;
    }
    if (route !== null) {
      const outcome = this.check(route, presented);
      if (outcome != ADMITTED) return refuse(route, outcome);
      propagate = propagate || route.propagateCredential;
    }
    setHeaderOf(MapType.RequestHeaders, USER_ID_HEADER, this.user!.username);
    if (!propagate) removeHeaderOf(MapType.RequestHeaders, AUTHORIZATION);
    return Action.Continue;
  }

  /** Whether the credential proves a user of `entry`'s set (that user in `this.user`). */
  check(entry: Entry, presented: Presented | null): i32 {
    if (presented === null) return MISSING;
    const users = entry.users.users;
    const cache = this.policy.cache;
    // A cached record counts only when this set's user of that name has the hash it was verified against (another
    // set, or a newer configuration, may hold the same name with another hash).
    const cached = cache.get(presented.digest);
    if (cached !== null && users.has(cached.username) && users.get(cached.username).hash == cached.hash) {
      this.user = cached;
      return ADMITTED;
    }
    if (!presented.decode()) return MISSING;
    const username = presented.username!;
    if (!users.has(username)) {
      const decoy = entry.users.decoy;
      if (decoy !== null) {
        // The same budget and work as a known user's check: unknown names cannot be told apart.
        if (!this.policy.budget.take(decoy.iterations)) return THROTTLED;
        verify(decoy, presented.password);
      }
      return INVALID;
    }
    const known = users.get(username);
    if (!this.policy.budget.take(known.iterations)) return THROTTLED;
    if (!verify(known, presented.password)) return INVALID;
    cache.put(presented.digest, known);
    this.user = known;
    return ADMITTED;
  }
}

function refuse(entry: Entry, outcome: i32): u32 {
  if (outcome == THROTTLED) return throttled();
  return outcome == MISSING ? missing(entry) : invalid(entry);
}

// @ts-ignore: decorator
@lazy const RETRY_AFTER = [new Header("retry-after", "1")];

/** Over the PBKDF2 budget: fail closed, without hashing, and say when to come back. */
function throttled(): u32 {
  return sendJsonError(429, "apip_basic_auth_busy", "Too many credential checks; retry later.", RETRY_AFTER);
}

function missing(entry: Entry): u32 {
  return sendJsonError(401, "apip_basic_auth_missing", "Missing credentials.", entry.challenge);
}

function invalid(entry: Entry): u32 {
  return sendJsonError(401, "apip_basic_auth_invalid", "Invalid credentials.", entry.challenge);
}

registerRootContext((contextId: u32): RootContext => new BasicAuthRoot());

export * from "../lib/exports";
