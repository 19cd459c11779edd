import { z } from 'zod';
import type { PolicyParamsDefinition } from './kind.ts';
import { header } from './set-headers.ts';

/**
 * Policy names of the catalogue that no wasm module implements yet (Envoy's own filters would: CORS, direct
 * response, host rewrite). They have params and are stored and validated like any kind, but the translator refuses
 * them (no module in this build), so an API using one is not served rather than served without it.
 */

const cors = z.strictObject({
  allowedOrigins: z.array(z.string().min(1)).min(1, 'must list at least one origin'),
  allowedMethods: z.array(z.string().min(1)).optional(),
  allowedHeaders: z.array(z.string().min(1)).optional(),
  exposedHeaders: z.array(z.string().min(1)).optional(),
  allowCredentials: z.boolean().optional(),
  maxAgeSeconds: z.number().int().min(0).optional(),
});

const respond = z.strictObject({
  statusCode: z.number().int().min(100, 'must be an HTTP status 100-599').max(599, 'must be an HTTP status 100-599').default(200),
  body: z.string().optional(),
  headers: z.array(header).optional(),
});

const hostRewrite = z.strictObject({
  host: z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be a host name with an optional port'),
});

export const corsDefinition: PolicyParamsDefinition = { name: 'cors', aliases: [], description: 'CORS preflight answers and response headers.', params: cors };
export const respondDefinition: PolicyParamsDefinition = {
  name: 'respond',
  aliases: [],
  description: 'Answers directly with a fixed status, headers and body; the upstream is not called.',
  params: respond,
};
export const hostRewriteDefinition: PolicyParamsDefinition = { name: 'host-rewrite', aliases: [], description: 'Rewrites the Host header sent upstream.', params: hostRewrite };
