// plan: closes authentication for the routes of an API with plans (docs/plan-selection.md, step 2). It runs after
// the authentication modules (api-key, jwt, oauth2):
//   - the request carries `x-apip-plan` (an earlier module admitted it): that plan must be one of the route's plans,
//     else 403 `Plan not allowed on this route.`;
//   - it does not: the first KEYLESS plan of the route (in the route's order) whose selection rule holds, or that has
//     none, is chosen and set as `x-apip-plan`;
//   - otherwise 401 `Missing credentials.` with one `WWW-Authenticate` challenge per security type the route offers.
// Plugin configuration: docs/policies.md#plan.
import { Action, MapType } from "../lib/abi";
import {
  indexPath, memberPath, objectEntries, Problems, readArray, readObject, readOptionalString, readString,
} from "../lib/config";
import { getHeaderRaw, Header, isValidHeaderValue, setHeaderRaw } from "../lib/headers";
import { PLAN_HEADER_BYTES } from "../lib/identity";
import { JsonValue } from "../lib/json";
import { PolicyRoot, PolicyStream } from "../lib/policy-root";
import { sendJsonError } from "../lib/reply";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";
import { parseRule, Rule, RuleInput } from "../lib/selection-rule";

class Plan {
  constructor(public id: string, public isKeyless: bool, public rule: Rule | null) {}
  /** The id UTF-8 encoded once: the `x-apip-plan` value when this plan is chosen. */
  idBytes: ArrayBuffer = new ArrayBuffer(0);
}

class RouteSettings {
  /** Every plan of the route, by id (identity present: its plan must be here). */
  allowed: Set<string> = new Set<string>();
  /** The route's KEYLESS plans in the route's order (identity absent: the first whose rule holds). */
  keyless: Array<Plan> = new Array<Plan>(0);
  /** One `WWW-Authenticate` per entry of `challenges`, for the 401. */
  challenges: Array<Header> = new Array<Header>(0);
}

function readPlans(config: JsonValue, problems: Problems): Map<string, Plan> {
  const plans = new Map<string, Plan>();
  const entries = objectEntries(readObject(config, "plans", "$", problems, true), "$.plans", problems);
  while (entries.next()) {
    const id = entries.name;
    const path = entries.path;
    const item = entries.value;
    if (id.length == 0 || !isValidHeaderValue(id)) problems.add(path, "plan id must be non-empty, without control characters");
    readOptionalString(item, "name", path, problems);
    const security = readString(item, "security", path, problems, true);
    if (security != "KEYLESS" && security != "API_KEY" && security != "JWT" && security != "OAUTH2") {
      problems.add(memberPath(path, "security"), "must be KEYLESS, API_KEY, JWT or OAUTH2");
    }
    const ruleText = readOptionalString(item, "rule", path, problems);
    let rule: Rule | null = null;
    if (ruleText !== null) rule = parseRule(ruleText, problems, memberPath(path, "rule"));
    const plan = new Plan(id, security == "KEYLESS", rule);
    plan.idBytes = String.UTF8.encode(id);
    plans.set(id, plan);
  }
  return plans;
}

function readRoute(route: JsonValue, path: string, plans: Map<string, Plan>, problems: Problems): RouteSettings {
  const settings = new RouteSettings();
  const planIds = readArray(route, "plans", path, problems, true);
  for (let p = 0; p < planIds.length; p++) {
    const itemPath = indexPath(memberPath(path, "plans"), p);
    const ref = unchecked(planIds[p]);
    if (!ref.isString || !plans.has(ref.stringValue)) {
      problems.add(itemPath, "must name a plan of $.plans");
      continue;
    }
    if (settings.allowed.has(ref.stringValue)) {
      problems.add(itemPath, "duplicates another plan of this route");
      continue;
    }
    const plan = plans.get(ref.stringValue);
    settings.allowed.add(plan.id);
    if (plan.isKeyless) settings.keyless.push(plan);
  }
  const challenges = readArray(route, "challenges", path, problems, false);
  for (let c = 0; c < challenges.length; c++) {
    const itemPath = indexPath(memberPath(path, "challenges"), c);
    const challenge = unchecked(challenges[c]);
    if (!challenge.isString || challenge.stringValue.length == 0 || !isValidHeaderValue(challenge.stringValue)) {
      problems.add(itemPath, "must be a non-empty header value");
      continue;
    }
    settings.challenges.push(new Header("www-authenticate", challenge.stringValue));
  }
  return settings;
}

class PlanRoot extends PolicyRoot<RouteSettings> {

  onConfigure(configuration: ArrayBuffer): bool {
    return this.configure("plan", configuration);
  }

  readRoutes(config: JsonValue, problems: Problems): Map<string, RouteSettings> {
    const routes = new Map<string, RouteSettings>();
    const plans = readPlans(config, problems);
    const entries = objectEntries(readObject(config, "routes", "$", problems, true), "$.routes", problems);
    while (entries.next()) routes.set(entries.name, readRoute(entries.value, entries.path, plans, problems));
    return routes;
  }

  createHttpContext(contextId: u32): HttpContext {
    return new PlanStream(contextId, this);
  }
}

class PlanStream extends PolicyStream<PlanRoot> {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    const route = policy.enterRequest();
    if (route === null) return policy.skipAction;

    // Identity present: an authentication module admitted the request under this plan.
    const planBytes = getHeaderRaw(MapType.RequestHeaders, PLAN_HEADER_BYTES);
    if (planBytes !== null) {
      if (route.allowed.has(String.UTF8.decode(planBytes))) return Action.Continue;
      return sendJsonError(403, "apip_plan_not_allowed", "Plan not allowed on this route.");
    }

    // Identity absent: the first keyless plan whose rule holds. The rule input reads the request lazily.
    const keyless = route.keyless;
    let input: RuleInput | null = null;
    for (let i = 0; i < keyless.length; i++) {
      const plan = unchecked(keyless[i]);
      const rule = plan.rule;
      if (rule !== null) {
        if (input === null) input = new RuleInput();
        if (!rule.evaluate(input)) continue;
      }
      setHeaderRaw(MapType.RequestHeaders, PLAN_HEADER_BYTES, plan.idBytes);
      return Action.Continue;
    }
    return sendJsonError(401, "apip_credentials_missing", "Missing credentials.", route.challenges);
  }
}

registerRootContext((contextId: u32): RootContext => new PlanRoot());

export * from "../lib/exports";
