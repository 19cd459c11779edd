import type { Route } from './router.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { openApiRoutes } from './routes/openapi.ts';
import { restApiRoutes } from './routes/rest-apis.ts';
import { subscriptionPlanRoutes } from './routes/subscription-plans.ts';
import { subscriptionRoutes } from './routes/subscriptions.ts';

/** Every v0.9 route, one module per resource; order does not matter (paths are exact). */
export const restRoutes: readonly Route[] = [
  ...restApiRoutes,
  ...apiKeyRoutes,
  ...subscriptionPlanRoutes,
  ...subscriptionRoutes,
  ...openApiRoutes,
];
