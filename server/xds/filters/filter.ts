import type { IrTables, PolicyKind, RouteSettingsByKind } from '../ir.ts';

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
  /** The API's JWT client table, when it has JWT subscriptions. */
  jwtClients: string | null;
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
