// The state and request prologue every policy module shares: per-route settings keyed by route name, parsed once
// per configuration (style: one lookup on the hot path), and fail-closed handling of a refused configuration.
import { Action } from "./abi";
import { logRefused, Problems } from "./config";
import { stripIdentityHeaders } from "./identity";
import { RouteCache } from "./properties";
import { sendMisconfigured } from "./reply";
import { RootContext } from "./runtime";

export class PolicyRoot<T> extends RootContext {
  isConfigured: bool = false;
  /** Set on the first module of a chain: it removes client-supplied `x-apip-*` identity headers. */
  stripIdentity: bool = false;
  routes: Map<string, T> = new Map<string, T>();
  /** What onRequestHeaders returns when `enterRequest` gives no route: continue, or the misconfigured reply. */
  skipAction: u32 = Action.Continue;
  private readonly routeCache: RouteCache<T> = new RouteCache<T>();

  /**
   * Ends onConfigure: with no problem, the new tables replace the old ones at once; with any, the whole
   * configuration is refused, logged, and the policy denies every request until a valid one arrives.
   */
  commit(policy: string, problems: Problems, routes: Map<string, T>, stripIdentity: bool): bool {
    if (!problems.isEmpty) {
      logRefused(policy, problems);
      this.isConfigured = false;
      return false;
    }
    this.routes = routes;
    this.stripIdentity = stripIdentity;
    this.isConfigured = true;
    return true;
  }

  /**
   * The start of every request: a refused configuration answers 500 (fail closed), the first module strips forged
   * identity headers, then one lookup by `xds.route_name`. Null means nothing more to do: return `skipAction`.
   */
  enterRequest(): T | null {
    if (!this.isConfigured) {
      this.skipAction = sendMisconfigured();
      return null;
    }
    this.skipAction = Action.Continue;
    if (this.stripIdentity) stripIdentityHeaders();
    return this.routeCache.lookup(this.routes);
  }
}
