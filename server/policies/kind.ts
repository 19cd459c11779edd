import type { z } from 'zod';
import { type FieldIssue, joinPath } from '../domain/errors.ts';
import type { IrTables, PolicyKind, PolicySource, RouteSettingsByKind } from '../xds/ir.ts';

/** Settings, or the problems of an attachment's params, each `path` relative to the attachment (`params.key`). */
export type ParamsResult<S> = { ok: true; settings: S } | { ok: false; issues: FieldIssue[] };

/** A secret field of the items of a list param, items told apart by `identity` (basic-auth: users[].passwordHash by username). */
export interface WriteOnlyField {
  list: string;
  identity: string;
  field: string;
}

/** Where an attachment sits: on the API, on one operation, or on a plan (runs for the requests that plan admits). */
export type AttachmentPoint = 'api' | 'operation' | 'plan';

/** Attachable on the API and its operations, not on plans. */
export const routeAttachments: readonly AttachmentPoint[] = ['api', 'operation'];
/** Attachable everywhere: the module also keeps per-plan settings (`planPolicies`, docs/plan-selection.md). */
export const anyAttachment: readonly AttachmentPoint[] = ['api', 'operation', 'plan'];

/**
 * What the control plane knows of a policy name: its params (the one check, with zod, before an attachment is
 * stored and again when it is translated), its v0.9 aliases, where it may be attached and its write-only fields.
 * Only kinds with a wasm module have one: a name the data planes cannot serve is not in the catalogue.
 */
export interface PolicyParamsDefinition {
  /** Canonical name on the wire (`api-key`). */
  readonly name: string;
  /** v0.9 reference-implementation names accepted where the params are compatible (`api-key-auth`). */
  readonly aliases: readonly string[];
  readonly description: string;
  readonly params: z.ZodType<Record<string, unknown>>;
  /**
   * Where attachments of this kind may sit. The one owner of that rule: the domain refuses other places at write
   * time and the translator folds plan policies only of these kinds.
   */
  readonly attachTo: readonly AttachmentPoint[];
  /** Secret fields of the params: write-only for everyone (server/domain/policy-registry.ts). */
  readonly writeOnly?: readonly WriteOnlyField[];
  /** The one major version attachments name, the reference's for its policy (redirect: `v0`). @default 'v1' */
  readonly majorVersion?: string;
}

/** What a route adds to its folded settings: the full path it matches (context + operation path). */
export interface RouteFacts {
  fullPath: string;
}

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
  /**
   * A key manager named by a `jwt` attachment's `issuers`: its key set (null when none of its keys is usable) and
   * its default audiences; null when there is no such key manager.
   */
  keyManager?(name: string): { keySet: string | null; audiences: readonly string[] } | null;
  /** The API's JWT client table, when it has JWT plans. */
  jwtClients: string | null;
  /** True when the deployment model has this authorization server (oauth2 attachments). */
  hasAuthorizationServer(id: string): boolean;
  /** The API's OAuth2 client table, when it has OAuth2 subscriptions. */
  oauth2Clients: string | null;
  /** The API's serving OAuth2 plans, in plan order. */
  oauth2Plans: readonly string[];
  /** The API's version (`spec.version`); absent where no API is at hand (write-time conflict checks). */
  apiVersion?: string;
}

/** Where an attachment sits and the catalogue name it was written with (canonical: `basic-ratelimit` -> `throttle`). */
export interface AttachmentSite {
  source: PolicySource;
  name: string;
}

/**
 * One policy kind = one wasm module (policies/<kind>/) = one HTTP filter on the listener, and one TypeScript module
 * here (server/policies/<kind>.ts) that holds all the control plane knows of it: its params (`definition`, absent
 * for a kind the translator configures from plans), how valid params become its per-route settings (model -> IR;
 * only what the params alone cannot say is checked there), how two attachments on one route combine, and how the
 * routes' settings plus the shared tables become the module's plugin configuration, whose shape `configuration`
 * declares (docs/policies.md). The wasm filter around it is the same for every kind (xds/translate/wasm-filter.ts).
 */
export interface PolicyKindModule<K extends PolicyKind> {
  readonly kind: K;
  readonly definition: PolicyParamsDefinition | null;
  /**
   * Params (checked against `definition.params` first) as per-route settings, or what the context refuses. `site`
   * says where the attachment sits (throttle: an API-level limit is one bucket per API); absent: an operation.
   */
  fromParams(params: Record<string, unknown>, ctx: AttachmentContext, site?: AttachmentSite): ParamsResult<RouteSettingsByKind[K]>;
  /** Further catalogue entries this kind's module serves, each with params of its own (throttle: advanced-ratelimit). */
  readonly variants?: readonly PolicyParamsDefinition[];
  /** The folded settings of one route, completed with what only the route knows (redirect: its matched prefix). */
  forRoute?(settings: RouteSettingsByKind[K], route: RouteFacts): RouteSettingsByKind[K];
  /** Both apply, `earlier` first; returns the combination, or why they cannot be combined. */
  merge(earlier: RouteSettingsByKind[K], later: RouteSettingsByKind[K]): RouteSettingsByKind[K] | string;
  /** The module digests presented keys or tokens: its configuration carries the digest key (`digestKey`). */
  readonly usesKeyDigests?: true;
  /** The module's configuration without `stripIdentityHeaders`; `routes` is sorted by route name. */
  pluginConfiguration(routes: ReadonlyMap<string, RouteSettingsByKind[K]>, tables: IrTables): Record<string, unknown>;
  /** The JSON the module receives as plugin configuration (docs/policies.md prints its JSON Schema). */
  readonly configuration: z.ZodType;
}

/**
 * `fromParams` of a kind with params: `schema` is the one check (an invalid attachment never reaches `settings`),
 * `settings` maps the parsed params and checks only what needs the API's context.
 */
export function fromParsedParams<S extends z.ZodType<Record<string, unknown>>, R>(
  kind: string,
  schema: S,
  settings: (params: z.output<S>, ctx: AttachmentContext, site?: AttachmentSite) => ParamsResult<R>,
): (params: Record<string, unknown>, ctx: AttachmentContext, site?: AttachmentSite) => ParamsResult<R> {
  return (params, ctx, site) => {
    const parsed = schema.safeParse(params);
    if (!parsed.success) return fail(paramsIssues(parsed.error.issues, 'params', kind));
    return settings(parsed.data, ctx, site);
  };
}

/** zod issues of params as path/message pairs under `prefix`; an unknown key is named as not a parameter of `kind`. */
export function paramsIssues(issues: readonly z.core.$ZodIssue[], prefix: string, kind: string): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const issue of issues) {
    const at = joinPath(prefix, issue.path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: `${at}.${key}`, message: `is not a parameter of ${kind}` });
    } else out.push({ path: at, message: issue.message });
  }
  return out;
}

/** Same settings (they are built with a fixed key order, so their JSON is canonical). */
export function sameSettings(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function ok<S>(settings: S): ParamsResult<S> {
  return { ok: true, settings };
}

export function fail<S>(issues: FieldIssue[]): ParamsResult<S> {
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

/** The plan-selection fields of an authentication module's route entry (docs/plan-selection.md). */
export interface PlanSelectionFields {
  /** Absent credential: pass on without identity (the API offers plans of more than one security type). */
  optional: boolean;
  /** This module's plans on the route, in the API's plan order; null: no plan of this type (attached policy only). */
  plans: string[] | null;
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
