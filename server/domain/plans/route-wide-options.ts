import { and, eq, inArray, ne } from 'drizzle-orm';
import { plans } from '../../db/schema/index.ts';
import type { WriteScope } from '../context.ts';
import { ValidationError } from '../errors.ts';
import { hydrate, type Plan } from './model.ts';

/**
 * Options of API_KEY, JWT and OAuth2 plans that act on an API's routes, not on one plan: where the key is read; how
 * the client id and the user are read from the token, which claims become headers, whether the credential reaches the
 * upstream. A route runs one api-key (jwt, oauth2) module configuration for all the API's plans of that type, so serving plans that disagree would
 * have all but one plan served otherwise than written. Refused when a plan is published, naming the option.
 */
const routeWideOptions = {
  API_KEY: ['keyLocation', 'keyName'],
  JWT: ['clientIdClaim', 'userClaim', 'extractClaims', 'propagateAuthHeader'],
  OAUTH2: ['clientIdClaim', 'extractClaims', 'propagateAuthHeader'],
} as const;

function optionsOf(plan: Plan): Record<string, unknown> | null {
  if (plan.security.type === 'API_KEY') return plan.security.apiKey as Record<string, unknown> | null;
  if (plan.security.type === 'JWT') return plan.security.jwt as Record<string, unknown> | null;
  if (plan.security.type === 'OAUTH2') return plan.security.oauth2 as Record<string, unknown> | null;
  return null;
}

/** Throws a ValidationError when `plan` would serve beside a PUBLISHED or DEPRECATED plan of its type with other route-wide options. */
export async function assertRouteWideOptionsAgree(scope: WriteScope, plan: Plan): Promise<void> {
  const type = plan.security.type;
  if (type !== 'API_KEY' && type !== 'JWT' && type !== 'OAUTH2') return;
  const rows = await scope.tx.select().from(plans).where(and(
    eq(plans.apiId, plan.apiId),
    ne(plans.id, plan.id),
    eq(plans.security, type),
    inArray(plans.status, ['PUBLISHED', 'DEPRECATED']),
  ));
  if (rows.length === 0) return;
  const mine = optionsOf(plan) ?? {};
  const key = type === 'API_KEY' ? 'apiKey' : type === 'JWT' ? 'jwt' : 'oauth2';
  for (const other of await hydrate(scope.tx, rows)) {
    const theirs = optionsOf(other) ?? {};
    const differing = routeWideOptions[type].filter((option) => JSON.stringify(mine[option] ?? null) !== JSON.stringify(theirs[option] ?? null));
    if (differing.length > 0) {
      throw new ValidationError(differing.map((option) => ({
        path: `security.${key}.${option}`,
        message: `must be the same as on the API's serving ${type} plan '${other.name}' (${JSON.stringify(theirs[option] ?? null)}): one value applies to all of an API's ${type} plans on its routes`,
      })));
    }
  }
}
