import { relations } from 'drizzle-orm';
import { index, integer, jsonb, pgEnum, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { apis, owningApiId } from './apis.ts';
import { belongsTo, id, lifecycleDates, timestamptz } from './columns.ts';

export const planSecurity = pgEnum('plan_security', ['KEYLESS', 'API_KEY', 'JWT', 'OAUTH2']);
export const planStatus = pgEnum('plan_status', ['STAGING', 'PUBLISHED', 'DEPRECATED', 'CLOSED']);
export const planValidation = pgEnum('plan_validation', ['AUTO', 'MANUAL']);

export const plans = pgTable(
  'plans',
  {
    id: id(),
    apiId: owningApiId(),
    /** The first version's id; every version of one plan shares it. */
    lineageId: text('lineage_id').notNull(),
    version: integer('version').notNull().default(1),
    name: text('name').notNull(),
    description: text('description'),
    security: planSecurity('security').notNull(),
    /** Type-specific options (key location, JWT resolver, OAuth2 server…), validated by the domain's zod schema per type. */
    securityConfig: jsonb('security_config').$type<Record<string, unknown>>().notNull().default({}),
    selectionRule: text('selection_rule'),
    validation: planValidation('validation').notNull().default('AUTO'),
    status: planStatus('status').notNull().default('STAGING'),
    /** Order among the API's plans when selection is ambiguous. */
    position: integer('position').notNull().default(0),
    publishedAt: timestamptz('published_at'),
    deprecatedAt: timestamptz('deprecated_at'),
    closedAt: timestamptz('closed_at'),
    ...lifecycleDates,
  },
  (t) => [
    // An API's plans (GraphQL api.plans, translator).
    index('plans_api_id_idx').on(t.apiId),
    // A lineage's versions, newest first; one row per version.
    uniqueIndex('plans_lineage_version_key').on(t.lineageId, t.version),
  ],
);

export const planPolicies = pgTable(
  'plan_policies',
  {
    id: id(),
    planId: belongsTo('plan_id', () => plans.id),
    position: integer('position').notNull(),
    name: text('name').notNull(),
    version: text('version').notNull(),
    executionCondition: text('execution_condition'),
    params: jsonb('params').$type<Record<string, unknown>>(),
  },
  (t) => [
    // A plan's policies in order.
    index('plan_policies_plan_idx').on(t.planId, t.position),
  ],
);

export const plansRelations = relations(plans, ({ one, many }) => ({
  api: one(apis, { fields: [plans.apiId], references: [apis.id] }),
  policies: many(planPolicies),
}));
export const planPoliciesRelations = relations(planPolicies, ({ one }) => ({
  plan: one(plans, { fields: [planPolicies.planId], references: [plans.id] }),
}));
