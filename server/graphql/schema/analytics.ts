import { loadApplications } from '../../domain/applications.ts';
import { queryRequestStats, type RequestStatsRow, requestStatsDimensions } from '../../domain/analytics.ts';
import { loadPlans } from '../../domain/plans/index.ts';
import { builder } from '../builder.ts';
import { referencedNode } from '../node-fields.ts';
import { ApiRef } from './apis.ts';
import { ApplicationRef } from './applications.ts';
import { PlanRef } from './plans.ts';
import { rawId } from '../global-id.ts';

const RequestStatsDimensionEnum = builder.enumType('RequestStatsDimension', {
  description: 'A dimension request statistics can be grouped by.',
  values: requestStatsDimensions,
});

const RequestStatsRowRef = builder.objectRef<RequestStatsRow>('RequestStatsRow').implement({
  description:
    'Requests of one group. Dimensions not grouped by are null; grouped by APPLICATION, a null application is the ' +
    '"unknown application" (keyless traffic, or requests rejected before an application was identified).',
  fields: (t) => ({
    minute: t.expose('minute', { type: 'DateTime', nullable: true, description: 'Start of the minute (grouped by MINUTE).' }),
    apiId: t.globalID({ nullable: true, resolve: (r) => (r.apiId ? { type: 'Api', id: r.apiId } : null) }),
    planId: t.globalID({ nullable: true, resolve: (r) => (r.planId ? { type: 'Plan', id: r.planId } : null) }),
    applicationId: t.globalID({ nullable: true, resolve: (r) => (r.applicationId ? { type: 'Application', id: r.applicationId } : null) }),
    api: t.field({ type: ApiRef, nullable: true, description: 'null when deleted or not visible.', resolve: (r) => r.apiId }),
    plan: t.loadable({ ...referencedNode(PlanRef, loadPlans), resolve: (r) => r.planId }),
    application: t.loadable({ ...referencedNode(ApplicationRef, loadApplications), resolve: (r) => r.applicationId }),
    requests: t.exposeInt('requests'),
    clientErrors: t.exposeInt('clientErrors', { description: 'Responses with status 400–499.' }),
    serverErrors: t.exposeInt('serverErrors', { description: 'Responses with status 500–599.' }),
    errorRate: t.exposeFloat('errorRate', { description: '(clientErrors + serverErrors) / requests.' }),
    serverErrorRate: t.exposeFloat('serverErrorRate', { description: 'serverErrors / requests.' }),
    p50Ms: t.exposeFloat('p50Ms', { nullable: true, description: 'Median latency in ms, estimated from log-scale buckets (each ≤ 19 % wide).' }),
    p99Ms: t.exposeFloat('p99Ms', { nullable: true, description: '99th percentile latency in ms, estimated like p50Ms.' }),
  }),
});

builder.queryField('requestStats', (t) =>
  t.field({
    type: [RequestStatsRowRef],
    description:
      'Request counts, error rates and latency percentiles from every data plane, counted per minute. Admins and ' +
      'publishers see all traffic, consumers their own applications’ only. Ordered by the grouped dimensions.',
    args: {
      from: t.arg({ type: 'DateTime', required: true, description: 'Minutes starting at or after this instant.' }),
      to: t.arg({ type: 'DateTime', required: true, description: 'Minutes starting before this instant; at most 31 days after from (24 hours grouped by MINUTE).' }),
      groupBy: t.arg({ type: [RequestStatsDimensionEnum], required: false, description: 'Dimensions kept apart; none: one row in total.' }),
      apiId: t.arg.globalID({ required: false }),
      planId: t.arg.globalID({ required: false }),
      applicationId: t.arg.globalID({ required: false }),
    },
    resolve: (_root, args, ctx) =>
      queryRequestStats(ctx.domain, {
        from: args.from,
        to: args.to,
        groupBy: args.groupBy ?? [],
        apiId: args.apiId ? rawId(args.apiId, 'Api') : null,
        planId: args.planId ? rawId(args.planId, 'Plan') : null,
        applicationId: args.applicationId ? rawId(args.applicationId, 'Application') : null,
      }),
  }),
);
