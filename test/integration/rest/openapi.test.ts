import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restRoutes } from '../../../server/rest/routes.ts';
import { openApiDocumentUrl } from '../../../server/rest/routes/openapi.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { restPrefix } from '../../helpers/rest.ts';
import { httpMethods, openApiDocument, openApiPath, responseProblems } from '../../helpers/rest-openapi.ts';

/** `/rest-apis/:id` -> `/rest-apis/{id}`. */
const asTemplate = (path: string) => path.replace(/:([A-Za-z]+)/g, '{$1}');

describe('schema/management-v0.9.yaml', () => {
  const doc = openApiDocument();

  it('is the document the server serves (one file, no copy)', () => {
    expect(openApiDocumentUrl.pathname).toBe(openApiPath.pathname);
  });

  it('describes exactly the routes of the route table', () => {
    const documented = Object.entries(doc.paths)
      .flatMap(([path, item]) => httpMethods.filter((m) => m in item).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const served = restRoutes.map((r) => `${r.method} ${asTemplate(r.path)}`).sort();
    expect(documented).toEqual(served);
  });

  it('declares 401 on every operation that needs credentials, and 403 on every manager-only one', () => {
    for (const route of restRoutes) {
      const operation = doc.paths[asTemplate(route.path)]?.[route.method.toLowerCase()] as { responses: Record<string, unknown> };
      const access = route.access ?? 'authenticated';
      if (access !== 'public') expect(operation.responses, `${route.method} ${route.path}`).toHaveProperty('401');
      if (access === 'manager') expect(operation.responses, `${route.method} ${route.path}`).toHaveProperty('403');
    }
  });

  it('catches an answer that breaks it (the validator is not vacuous)', () => {
    expect(responseProblems('GET', '/rest-apis/x', 200, 'application/json', { apiVersion: 'v1' })).not.toEqual([]);
    expect(responseProblems('DELETE', '/subscriptions/x', 418, 'application/json', {})).toEqual([
      'DELETE /subscriptions/x -> 418: status not declared in the OpenAPI document',
    ]);
    expect(responseProblems('DELETE', '/subscriptions/x', 204, null, undefined)).toEqual([]);
  });
});

describe.each(shapeDrivers)('GET /api/management/v0.9/openapi.yaml (%s)', (driver) => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  it('serves the checked-in file byte for byte, without credentials', async () => {
    const res = await fetch(`${t.baseUrl}${restPrefix}/openapi.yaml`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/yaml');
    const served = await res.text();
    expect(served).toBe(readFileSync(openApiPath, 'utf8'));
    expect(parseYaml(served)).toMatchObject({ openapi: expect.stringMatching(/^3\.0\./) });
  });
});
