import type { Route } from './router.ts';

/** Every v0.9 route, one module per resource; order does not matter (paths are exact). */
export const restRoutes: readonly Route[] = [];
