import { index, integer, pgTable, text, unique } from 'drizzle-orm/pg-core';
import { timestamptz } from './columns.ts';

/**
 * Request counters per (minute, API, plan, application), added to by every data plane's recorder. No foreign
 * keys on purpose: these are historical facts reported by data planes that may lag the model (a plan or an
 * application deleted a second ago still had traffic), and ingestion must never fail on that.
 */
export const requestStats = pgTable(
  'request_stats',
  {
    /** Start of the minute the requests started in (UTC, seconds and below zero). */
    minute: timestamptz('minute').notNull(),
    apiId: text('api_id').notNull(),
    /** null: the request was admitted by no plan (an API without plans, or rejected before plan selection). */
    planId: text('plan_id'),
    /** null: no application identified (keyless traffic, rejected credentials) — "unknown application". */
    applicationId: text('application_id'),
    requests: integer('requests').notNull(),
    /** Responses with status 400–499. */
    clientErrors: integer('client_errors').notNull(),
    /** Responses with status 500–599. */
    serverErrors: integer('server_errors').notNull(),
    /** Request counts per latency bucket (server/analytics/latency-histogram.ts), so percentiles survive merging. */
    latencyBuckets: integer('latency_buckets').array().notNull(),
  },
  (t) => [
    // The upsert target of every flush (replicas add to the same row); also serves scans by minute range.
    // NULLS NOT DISTINCT: keyless traffic (application null) must land on one row, not a new row per flush.
    unique('request_stats_key').on(t.minute, t.apiId, t.planId, t.applicationId).nullsNotDistinct(),
    // requestStats(apiId: …): one API's rows in a time range.
    index('request_stats_api_minute_idx').on(t.apiId, t.minute),
    // A consumer's view: its applications' rows in a time range.
    index('request_stats_application_minute_idx').on(t.applicationId, t.minute),
  ],
);
