/**
 * The example requests of seed 002 (../shared/seeds/002_635f086d495bfe60.txt), verbatim. Tests copy them
 * (`structuredClone`) before changing anything, so what is sent as "the seed's payload" is exactly that.
 */

export const seedRestApi = {
  apiVersion: 'gateway.api-platform.wso2.com/v1alpha1',
  kind: 'RestApi',
  metadata: {
    name: 'reading-list-api-v1.0',
  },
  spec: {
    displayName: 'Reading-List-API',
    version: 'v1.0',
    context: '/reading-list/$version',
    upstream: {
      main: {
        url: 'https://apis.bijira.dev/samples/reading-list-api-service/v1.0',
      },
    },
    policies: [
      {
        name: 'set-headers',
        version: 'v1',
        params: {
          request: {
            headers: [
              {
                name: 'x-wso2-apip-gateway-version',
                value: 'v1.0.0',
              },
            ],
          },
          response: {
            headers: [
              {
                name: 'x-environment',
                value: 'development',
              },
            ],
          },
        },
      },
    ],
    operations: [
      { method: 'GET', path: '/books' },
      { method: 'POST', path: '/books' },
      { method: 'GET', path: '/books/{id}' },
      { method: 'PUT', path: '/books/{id}' },
      { method: 'DELETE', path: '/books/{id}' },
    ],
  },
} as const;

/** The seed API's spec as a writable value (`seedRestApi.spec` is `as const`). */
export interface SeedApiSpec {
  displayName: string;
  version: string;
  context: string;
  upstream: { main: { url: string } };
  policies: { name: string; version: string; params: Record<string, unknown> }[];
  operations: { method: 'GET' | 'POST' | 'PUT' | 'DELETE'; path: string }[];
}

/**
 * The seed's API as a copy numbered `n` (name, display name and context end in `-n`), for suites that create many:
 * the domain's `ApiInput` and GraphQL's `CreateApiInput` wrap it in their own metadata.
 */
export function numberedSeedApi(n: number): { name: string; spec: SeedApiSpec } {
  const spec = JSON.parse(JSON.stringify(seedRestApi.spec)) as SeedApiSpec;
  return {
    name: `reading-list-api-${n}`,
    spec: { ...spec, displayName: `Reading-List-API-${n}`, context: `/reading-list-${n}/$version` },
  };
}

/** The seed's 201/200 RestAPI answer, for its shape (timestamps differ). */
export const seedRestApiStatusKeys = ['id', 'state', 'createdAt', 'updatedAt', 'deployedAt'] as const;

/**
 * The seed's create example, but for its expiry: the seed's `2026-12-31T23:59:59Z` would be refused (a past expiry)
 * from 2027 on, so the example expires at the end of next year, whatever year the suite runs in.
 */
export const seedSubscriptionPlanCreate = {
  planName: 'Gold',
  billingPlan: 'COMMERCIAL',
  stopOnQuotaReach: true,
  throttleLimitCount: 1000,
  throttleLimitUnit: 'Hour',
  expiryTime: `${new Date().getUTCFullYear() + 1}-12-31T23:59:59Z`,
  status: 'ACTIVE',
} as const;

/** Generated from the schema ("string", 0): a count of 0 breaks issue 3's "count > 0". */
export const seedSubscriptionPlanUpdate = {
  planName: 'string',
  billingPlan: 'string',
  stopOnQuotaReach: true,
  throttleLimitCount: 0,
  throttleLimitUnit: 'Min',
  expiryTime: '2019-08-24T14:15:22Z',
  status: 'ACTIVE',
} as const;

/** Generated from the schema: subscriptionPlanId "string" names no plan (issue 3: the plan must exist). */
export const seedSubscriptionCreate = {
  apiId: 'c9f2b6ae-1234-5678-9abc-def012345678',
  subscriptionToken: 'sub-token-abc123xyz',
  applicationId: 'string',
  subscriptionPlanId: 'string',
  billingCustomerId: 'string',
  billingSubscriptionId: 'string',
  status: 'ACTIVE',
} as const;

/** The keys of the seed's example answers, to compare shapes. */
export const seedShapes = {
  restApiList: ['status', 'count', 'apis'],
  restApiDelete: ['status', 'message', 'id'],
  apiKeyResponse: ['status', 'message', 'remainingApiKeyQuota', 'apiKey'],
  apiKey: ['name', 'displayName', 'apiKey', 'apiId', 'status', 'createdAt', 'createdBy', 'expiresAt', 'source'],
  apiKeyList: ['apiKeys', 'totalCount', 'status'],
  subscriptionPlan: [
    'id', 'planName', 'billingPlan', 'stopOnQuotaReach', 'throttleLimitCount', 'throttleLimitUnit', 'expiryTime', 'gatewayId', 'status', 'createdAt', 'updatedAt',
  ],
  subscriptionPlanList: ['subscriptionPlans', 'count'],
  subscription: [
    'id', 'apiId', 'applicationId', 'subscriptionToken', 'subscriptionPlanId', 'billingCustomerId', 'billingSubscriptionId', 'gatewayId', 'status', 'createdAt', 'updatedAt',
  ],
  subscriptionList: ['subscriptions', 'count'],
} as const;

/** `Object.keys` sorted, to compare an answer's shape with the seed's. */
export function keysOf(value: unknown): string[] {
  return value !== null && typeof value === 'object' ? Object.keys(value).sort() : [];
}

export function sorted(keys: readonly string[]): string[] {
  return [...keys].sort();
}

/** The seed's RestApi body, loosely typed: tests change it, sometimes to break it on purpose. */
export interface RestApiBody {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown>;
  spec: Record<string, unknown>;
}

/** A copy of the seed's RestApi named `name` (handle, displayName and context follow it), then edited by `edit`. */
export function freshRestApi(name: string, edit: (body: RestApiBody) => void = () => {}): RestApiBody {
  const body = structuredClone(seedRestApi) as unknown as RestApiBody;
  body.metadata.name = name;
  body.spec.displayName = name.charAt(0).toUpperCase() + name.slice(1);
  body.spec.context = `/${name}/$version`;
  edit(body);
  return body;
}
