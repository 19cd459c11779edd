import { z } from 'zod';
import { fail, ok, paramsIssues, routeAttachments } from '../kind.ts';
import type { RouteActionKind } from './kind.ts';

/**
 * host-rewrite (docs/policies.md#host-rewrite): the Host the upstream receives, as Envoy's `host_rewrite_literal`.
 * As in the reference, it takes effect only where the upstream's `hostRewrite` is `manual`; with `auto` (the
 * default) the upstream's own host wins (the translator warns). Operation-level wins over API-level (both run in
 * the reference, the later setting the header last).
 */

// A host, optionally with a port: what an HTTP/1.1 Host header or HTTP/2 :authority may carry (RFC 9110 §7.2).
const hostPattern = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::\d{1,5})?$/;

const params = z.strictObject({
  host: z.string().min(1).max(255).regex(hostPattern, 'must be a host name or IP address, optionally with :port'),
});

export const hostRewriteAction: RouteActionKind<string> = {
  definition: {
    name: 'host-rewrite',
    aliases: [],
    description: 'Sets the Host header the upstream receives (only with upstream hostRewrite: manual).',
    params,
    attachTo: routeAttachments,
  },
  fromParams(raw) {
    const parsed = params.safeParse(raw);
    return parsed.success ? ok(parsed.data.host) : fail(paramsIssues(parsed.error.issues, 'params', 'host-rewrite'));
  },
};
