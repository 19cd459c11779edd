// The state and request prologue every policy module shares: per-route settings keyed by route name, parsed once
// per configuration (style: one lookup on the hot path), and fail-closed handling of a refused configuration.
import { Action } from "./abi";
import { GATE_DENY, sendUndecided } from "./conditions";
import { logRefused, parseConfigObject, Problems } from "./config";
import { enterRoute, readStripRule, StripRule } from "./identity";
import { JsonValue } from "./json";
import { RouteCache } from "./properties";
import { sendMisconfigured } from "./reply";
import { HttpContext, RootContext } from "./runtime";

export class PolicyRoot<T> extends RootContext {
  isConfigured: bool = false;
  /** Where this module removes client-supplied `x-apip-*` identity headers: where it runs first. */
  strip: StripRule = new StripRule();
  /** Whether this module runs first on this request's route (it stripped): set by `enterRequest`. */
  isFirst: bool = false;
  routes: Map<string, T> = new Map<string, T>();
  /** What onRequestHeaders returns when `enterRequest` gives no route: continue, or the misconfigured reply. */
  skipAction: u32 = Action.Continue;
  private readonly routeCache: RouteCache<T> = new RouteCache<T>();

  /**
   * The usual onConfigure: parses the configuration object, reads where to strip identity headers, then the module's tables
   * (`readRoutes`), and commits. A policy with other top-level handling reads and commits itself.
   */
  configure(policy: string, configuration: ArrayBuffer): bool {
    const problems = new Problems();
    const config = parseConfigObject(configuration, problems);
    let routes = new Map<string, T>();
    let strip = new StripRule();
    if (config !== null) {
      strip = readStripRule(config, problems);
      routes = this.readRoutes(config, problems);
    }
    return this.commit(policy, problems, routes, strip);
  }

  /** For `configure`: the module's tables from the parsed configuration (other tables into its own fields). */
  readRoutes(config: JsonValue, problems: Problems): Map<string, T> {
    return new Map<string, T>();
  }

  /**
   * Ends onConfigure: with no problem, the new tables replace the old ones at once; with any, the whole
   * configuration is refused, logged, and the policy denies every request until a valid one arrives.
   */
  commit(policy: string, problems: Problems, routes: Map<string, T>, strip: StripRule): bool {
    if (!problems.isEmpty) {
      logRefused(policy, problems);
      this.isConfigured = false;
      return false;
    }
    this.routes = routes;
    this.strip = strip;
    this.isConfigured = true;
    return true;
  }

  /**
   * The start of every request: a refused configuration answers 500 (fail closed), the route's first module strips
   * forged identity headers, and one lookup by `xds.route_name`. Where an execution condition gates the module, a
   * condition that does not hold gives null (as on a route without an entry) and one that could not be decided
   * answers 500. Null means nothing more to do for the route: return `skipAction` unless it is Continue.
   */
  enterRequest(): T | null {
    if (!this.isConfigured) {
      this.skipAction = sendMisconfigured();
      return null;
    }
    this.skipAction = Action.Continue;
    const strip = this.strip;
    const route = enterRoute(this.routeCache, this.routes, strip);
    this.isFirst = strip.all || this.routeCache.isFirst;
    if (this.routeCache.gate == GATE_DENY) this.skipAction = sendUndecided();
    return route;
  }
}

/** The request context of a PolicyRoot module, with its root as `policy` (typed). */
export class PolicyStream<R> extends HttpContext {
  readonly policy: R;

  constructor(contextId: u32, policy: R) {
    super(contextId, policy);
    this.policy = policy;
  }
}
