import type { IrTables, PlanSelectionFields, PolicyKind, RouteSettingsByKind } from '../ir.ts';

/** One problem with an attachment's params, `path` relative to the attachment (`params.key`). */
export interface ParamIssue {
  path: string;
  message: string;
}

export type ParamsResult<S> = { ok: true; settings: S } | { ok: false; issues: ParamIssue[] };

/** What an attachment may refer to besides its own params: the tables the API contributes. */
export interface AttachmentContext {
  /** The API's handle. */
  api: string;
  /** api-key sets holding this API's keys (subscriptions' keys first, then the API's own v0.9 keys). */
  apiKeySets: readonly string[];
  /** jwt key sets of this API's JWT plans. */
  jwtPlanKeySets: readonly string[];
  /** jwt key set names resolved from JWKS URLs (only those with keys). */
  jwtUrlKeySet(jwksUrl: string): string | null;
  /** The API's JWT client table, when it has JWT plans. */
  jwtClients: string | null;
  /** True when the deployment model has this authorization server (oauth2 attachments). */
  hasAuthorizationServer(id: string): boolean;
  /** The API's OAuth2 client table, when it has OAuth2 subscriptions. */
  oauth2Clients: string | null;
  /** The API's serving OAuth2 plans, in plan order. */
  oauth2Plans: readonly string[];
}

/**
 * One policy kind = one wasm module = one HTTP filter on the listener. Each kind knows three things:
 * how an attachment's params become its per-route settings (model -> IR), how an API-level and an
 * operation-level attachment on the same route combine, and how the routes' settings plus the shared
 * tables become the module's plugin configuration (docs/policies.md). The wasm filter around it is the
 * same for every kind (filters/wasm-filter.ts).
 */
export interface PolicyFilter<K extends PolicyKind> {
  readonly kind: K;
  /** v0.9 names accepted for this kind (design brief, policy catalogue). */
  readonly aliases: readonly string[];
  fromParams(params: Record<string, unknown>, ctx: AttachmentContext): ParamsResult<RouteSettingsByKind[K]>;
  /** Both apply, `earlier` first; returns the combination, or why they cannot be combined. */
  merge(earlier: RouteSettingsByKind[K], later: RouteSettingsByKind[K]): RouteSettingsByKind[K] | string;
  /** The module digests presented keys or tokens: its configuration carries the digest key (`digestKey`). */
  readonly usesKeyDigests?: true;
  /** The module's configuration without `stripIdentityHeaders`; `routes` is sorted by route name. */
  pluginConfiguration(routes: ReadonlyMap<string, RouteSettingsByKind[K]>, tables: IrTables): Record<string, unknown>;
}

/** Same settings (they are built with a fixed key order, so their JSON is canonical). */
export function sameSettings(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function ok<S>(settings: S): ParamsResult<S> {
  return { ok: true, settings };
}

export function fail<S>(issues: ParamIssue[]): ParamsResult<S> {
  return { ok: false, issues };
}

/** `record` restricted to `names`, keys sorted: a module gets only the tables its routes use. */
export function pick<T>(record: Readonly<Record<string, T>>, names: Iterable<string>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const name of [...new Set(names)].sort()) {
    const value = record[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Map -> object, in the map's (sorted) order. */
export function routesObject<S>(routes: ReadonlyMap<string, S>, toJson: (s: S) => Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, settings] of routes) out[name] = toJson(settings);
  return out;
}

export function isString(value: unknown): value is string {
  return typeof value === 'string';
}

export function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every(isString);
}

/** The plan-selection fields of an authentication route entry: `optional` always, `plans` when the API has plans of that type. */
export function selectionFields(r: PlanSelectionFields): Record<string, unknown> {
  return { optional: r.optional, ...(r.plans === null ? {} : { plans: r.plans }) };
}

/** A module's top-level `plans`: the entries of `table` that its routes name, sorted by plan id. */
export function authPlansTable<T>(table: Readonly<Record<string, T>>, routes: Iterable<PlanSelectionFields>): Record<string, T> {
  return pick(table, [...routes].flatMap((r) => r.plans ?? []));
}

/**
 * A module's `planPolicies` (docs/plan-selection.md): each plan's folded settings of `kind`, sorted by plan id. The
 * table holds only the plans of translated APIs, and a plan id belongs to one API.
 */
export function planPoliciesOf<K extends PolicyKind>(kind: K, tables: IrTables): Record<string, RouteSettingsByKind[K]> {
  const out: Record<string, RouteSettingsByKind[K]> = {};
  for (const id of Object.keys(tables.planPolicies).sort()) {
    const settings = tables.planPolicies[id]![kind];
    if (settings !== undefined) out[id] = settings as RouteSettingsByKind[K];
  }
  return out;
}
