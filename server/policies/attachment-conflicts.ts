import type { PolicyKind } from '../xds/ir.ts';
import { canonicalPolicyName, policyFilters, policyKindOf } from './index.ts';
import type { AttachmentContext } from './kind.ts';

/**
 * Whether attachments that all apply to one route can be served together: each kind's own `merge` decides (one
 * api-key location per route, one jwt or oauth2 check...), so the domain refuses at write time exactly what the
 * translator could not fold. Settings are built against a neutral context: every attachment of a route shares
 * its API's context, so two attachments that differ here differ on any API. Attachments whose name or params
 * are invalid are skipped (the registry reports them).
 */
const neutralContext: AttachmentContext = {
  api: 'api',
  apiKeySets: ['keys'],
  jwtPlanKeySets: ['plans'],
  jwtUrlKeySet: (url) => `url:${url}`,
  keyManager: (name) => ({ keySet: `km:${name}`, audiences: [] }),
  jwtClients: null,
  hasAuthorizationServer: () => true,
  oauth2Clients: null,
  oauth2Plans: [],
};

/** The first conflict among `policies` (in chain order), as `[index of the later attachment, message]`, or null. */
export function attachmentConflict(policies: readonly { name: string; params?: Record<string, unknown> | null }[]): [number, string] | null {
  const merged = new Map<PolicyKind, unknown>();
  for (const [i, policy] of policies.entries()) {
    const kind = policyKindOf(policy.name);
    if (kind === undefined || policyFilters[kind].definition === null) continue;
    const result = policyFilters[kind].fromParams(policy.params ?? {}, neutralContext, { source: 'operation', name: canonicalPolicyName(policy.name) ?? policy.name });
    if (!result.ok) continue;
    const before = merged.get(kind);
    if (before === undefined) {
      merged.set(kind, result.settings);
      continue;
    }
    const combined = policyFilters[kind].merge(before as never, result.settings as never);
    if (typeof combined === 'string') return [i, combined];
    merged.set(kind, combined);
  }
  return null;
}
