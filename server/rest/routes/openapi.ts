import { readFileSync } from 'node:fs';
import type { Route } from '../router.ts';

/** The checked-in OpenAPI document of this layer, read once; the drift test keeps file and answer identical. */
export const openApiDocumentUrl = new URL('../../../schema/management-v0.9.yaml', import.meta.url);

let cached: string | null = null;

function document(): string {
  cached ??= readFileSync(openApiDocumentUrl, 'utf8');
  return cached;
}

/** `GET /openapi.yaml`, without credentials: describing the API gives nothing away. */
export const openApiRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/openapi.yaml',
    access: 'public',
    handle: async () => ({ status: 200, body: document(), contentType: 'application/yaml' }),
  },
];
