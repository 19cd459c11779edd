import { relations } from 'drizzle-orm';
import { boolean, index, integer, jsonb, pgEnum, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { belongsTo, id, lifecycleDates, timestamptz } from './columns.ts';
import { users } from './users.ts';

/** The API a row belongs to; the row goes with it. */
export const owningApiId = () => belongsTo('api_id', () => apis.id);

export const apiVisibility = pgEnum('api_visibility', ['public', 'private']);
export const deploymentState = pgEnum('deployment_state', ['deployed', 'undeployed']);
export const hostRewrite = pgEnum('host_rewrite', ['auto', 'manual']);
export const httpMethod = pgEnum('http_method', ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']);
export const upstreamEnvironment = pgEnum('upstream_environment', ['main', 'sandbox']);
/** domain/reachability.ts `AccessMode`: how an API without a serving plan admits traffic. */
export const apiAccessMode = pgEnum('api_access_mode', ['PLANS', 'OPEN']);

export const apis = pgTable(
  'apis',
  {
    id: id(),
    /** v0.9 metadata.name: the user-chosen handle, unique. */
    handle: text('handle').notNull(),
    displayName: text('display_name').notNull(),
    version: text('version').notNull(),
    /** As given, possibly holding `$version`. */
    context: text('context').notNull(),
    visibility: apiVisibility('visibility').notNull().default('public'),
    deploymentState: deploymentState('deployment_state').notNull().default('deployed'),
    /** PLANS (closed while no plan serves) or OPEN (v0.9: the API's own policies decide while no plan serves). */
    accessMode: apiAccessMode('access_mode').notNull().default('PLANS'),
    labels: jsonb('labels').$type<Record<string, string>>().notNull().default({}),
    annotations: jsonb('annotations').$type<Record<string, string>>().notNull().default({}),
    vhostMain: text('vhost_main'),
    vhostSandbox: text('vhost_sandbox'),
    /** v0.9 spec.subscriptionPlans: names of subscription plans offered. */
    subscriptionPlanNames: text('subscription_plan_names').array().notNull().default([]),
    /**
     * domain/apis/upstream-resilience.ts `UpstreamResilience` (health check, outlier detection, retry), defaults
     * filled in; null: none. Validated by the domain before it is stored.
     */
    upstreamResilience: jsonb('upstream_resilience').$type<Record<string, unknown>>(),
    /** The creating user, or whom ownership was transferred to. Restrict: deleting a user who owns APIs is refused. */
    ownerId: text('owner_id').references(() => users.id, { onDelete: 'restrict' }),
    deployedAt: timestamptz('deployed_at'),
    ...lifecycleDates,
  },
  (t) => [
    // GET /rest-apis/{id}: lookup by handle.
    uniqueIndex('apis_handle_key').on(t.handle),
    // 409 on the same displayName + version.
    uniqueIndex('apis_display_name_version_key').on(t.displayName, t.version),
    // Publishers list their own APIs.
    index('apis_owner_id_idx').on(t.ownerId),
  ],
);

/** Publishers (besides the owner) who manage the API. */
export const apiMembers = pgTable(
  'api_members',
  {
    apiId: owningApiId(),
    userId: belongsTo('user_id', () => users.id),
    addedAt: timestamptz('added_at').notNull(),
  },
  (t) => [
    // One membership per user and API; also serves listing an API's members.
    primaryKey({ columns: [t.apiId, t.userId] }),
    // "May this user manage this API?" and a deleted user's memberships.
    index('api_members_user_id_idx').on(t.userId),
  ],
);

/** upstream.main / upstream.sandbox: exactly one of url or ref. */
export const apiUpstreams = pgTable(
  'api_upstreams',
  {
    apiId: owningApiId(),
    environment: upstreamEnvironment('environment').notNull(),
    url: text('url'),
    ref: text('ref'),
    hostRewrite: hostRewrite('host_rewrite'),
  },
  (t) => [
    // One main and at most one sandbox per API; also serves loading an API's upstreams.
    uniqueIndex('api_upstreams_api_env_key').on(t.apiId, t.environment),
  ],
);

export const upstreamDefinitions = pgTable(
  'upstream_definitions',
  {
    id: id(),
    apiId: owningApiId(),
    position: integer('position').notNull(),
    name: text('name').notNull(),
    basePath: text('base_path'),
    /** Duration string as given ("5s", "500ms"). */
    connectTimeout: text('connect_timeout'),
  },
  (t) => [
    // Names are unique within an API; also serves loading an API's definitions in order.
    uniqueIndex('upstream_definitions_api_name_key').on(t.apiId, t.name),
  ],
);

export const upstreamTargets = pgTable(
  'upstream_targets',
  {
    definitionId: belongsTo('definition_id', () => upstreamDefinitions.id),
    position: integer('position').notNull(),
    url: text('url').notNull(),
    weight: integer('weight'),
  },
  (t) => [
    // Loading a definition's targets in order.
    uniqueIndex('upstream_targets_definition_position_key').on(t.definitionId, t.position),
  ],
);

export const operations = pgTable(
  'operations',
  {
    id: id(),
    apiId: owningApiId(),
    position: integer('position').notNull(),
    method: httpMethod('method').notNull(),
    path: text('path').notNull(),
    /** The route keeps X-HTTP-Method-Override and its variants (docs/gateway.md "Request hygiene"). */
    allowMethodOverride: boolean('allow_method_override').notNull().default(false),
  },
  (t) => [
    // An API's operations in order; one route per method + path.
    uniqueIndex('operations_api_method_path_key').on(t.apiId, t.method, t.path),
    index('operations_api_position_idx').on(t.apiId, t.position),
  ],
);

/** Policies attached to an API (operation_id null) or to one of its operations, in order. */
export const apiPolicies = pgTable(
  'api_policies',
  {
    id: id(),
    apiId: owningApiId(),
    operationId: text('operation_id').references(() => operations.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    name: text('name').notNull(),
    version: text('version').notNull(),
    executionCondition: text('execution_condition'),
    /** Validated against the policy definition's schema before it is stored. */
    params: jsonb('params').$type<Record<string, unknown>>(),
    enabled: boolean('enabled').notNull().default(true),
  },
  (t) => [
    // Loading an API's policies (API-level and per operation) in order.
    index('api_policies_api_idx').on(t.apiId, t.position),
    index('api_policies_operation_idx').on(t.operationId),
  ],
);

export const apisRelations = relations(apis, ({ many }) => ({
  upstreams: many(apiUpstreams),
  upstreamDefinitions: many(upstreamDefinitions),
  operations: many(operations),
  policies: many(apiPolicies),
}));
export const apiUpstreamsRelations = relations(apiUpstreams, ({ one }) => ({
  api: one(apis, { fields: [apiUpstreams.apiId], references: [apis.id] }),
}));
export const upstreamDefinitionsRelations = relations(upstreamDefinitions, ({ one, many }) => ({
  api: one(apis, { fields: [upstreamDefinitions.apiId], references: [apis.id] }),
  targets: many(upstreamTargets),
}));
export const upstreamTargetsRelations = relations(upstreamTargets, ({ one }) => ({
  definition: one(upstreamDefinitions, { fields: [upstreamTargets.definitionId], references: [upstreamDefinitions.id] }),
}));
export const operationsRelations = relations(operations, ({ one, many }) => ({
  api: one(apis, { fields: [operations.apiId], references: [apis.id] }),
  policies: many(apiPolicies),
}));
export const apiPoliciesRelations = relations(apiPolicies, ({ one }) => ({
  api: one(apis, { fields: [apiPolicies.apiId], references: [apis.id] }),
  operation: one(operations, { fields: [apiPolicies.operationId], references: [operations.id] }),
}));
