import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

/**
 * Validates real REST answers against schema/management-v0.9.yaml: the operation is found by method and path
 * template, the response by status; its JSON body must match the declared schema, and a status the document
 * does not declare for the operation is itself a failure.
 */

// ajv-formats is CommonJS with a `default` property; under Node's ESM interop the plugin sits there.
const addFormats = addFormatsModule.default;

export const openApiPath = new URL('../../schema/management-v0.9.yaml', import.meta.url);

interface MediaType {
  schema?: { $ref?: string };
}
interface ResponseObject {
  $ref?: string;
  content?: Record<string, MediaType>;
}
interface OperationObject {
  operationId?: string;
  responses: Record<string, ResponseObject>;
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, OperationObject | unknown>>;
  components: { responses: Record<string, ResponseObject>; schemas: Record<string, unknown> };
}

export const httpMethods = ['get', 'put', 'post', 'delete', 'patch'] as const;

let loaded: { doc: OpenApiDocument; ajv: Ajv; cache: Map<string, ValidateFunction> } | null = null;

function load() {
  if (loaded) return loaded;
  const doc = parseYaml(readFileSync(openApiPath, 'utf8')) as OpenApiDocument;
  // OpenAPI 3.0 keywords (`nullable`, `example`) are not JSON Schema: strict mode off, `nullable` understood.
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'openapi.json', components: doc.components });
  loaded = { doc, ajv, cache: new Map() };
  return loaded;
}

export function openApiDocument(): OpenApiDocument {
  return load().doc;
}

function templateMatches(template: string, path: string): boolean {
  const a = template.split('/').filter(Boolean);
  const b = path.split('/').filter(Boolean);
  return a.length === b.length && a.every((segment, i) => segment.startsWith('{') || segment === b[i]);
}

/** The document's operation for a method and a concrete path (relative to the v0.9 prefix). */
export function findOperation(method: string, path: string): { template: string; operation: OperationObject } | null {
  const { doc } = load();
  // Exact segments before templated ones, so `/rest-apis/{id}` never shadows a literal path.
  const templates = Object.keys(doc.paths).sort((x, y) => (x.match(/\{/g)?.length ?? 0) - (y.match(/\{/g)?.length ?? 0));
  for (const template of templates) {
    if (!templateMatches(template, path)) continue;
    const operation = doc.paths[template]?.[method.toLowerCase()];
    if (operation && typeof operation === 'object' && 'responses' in operation) return { template, operation: operation as OperationObject };
  }
  return null;
}

function validatorFor(ref: string): ValidateFunction {
  const { ajv, cache } = load();
  let validate = cache.get(ref);
  if (!validate) {
    validate = ajv.compile({ $ref: `openapi.json${ref}` });
    cache.set(ref, validate);
  }
  return validate;
}

function resolveResponse(response: ResponseObject): ResponseObject {
  if (!response.$ref) return response;
  const name = response.$ref.replace('#/components/responses/', '');
  const resolved = load().doc.components.responses[name];
  if (!resolved) throw new Error(`OpenAPI: unknown response ${response.$ref}`);
  return resolved;
}

/** Problems of one answer against the document; empty when it conforms. */
export function responseProblems(method: string, path: string, status: number, contentType: string | null, body: unknown): string[] {
  const found = findOperation(method, path);
  // No operation (unknown path, 405): the body must still be an ErrorResponse.
  const responses: Record<string, ResponseObject> = found
    ? found.operation.responses
    : { [String(status)]: { $ref: '#/components/responses/NotFound' } };
  const declared = responses[String(status)];
  const where = `${method} ${path} -> ${status}`;
  if (!declared) return [`${where}: status not declared in the OpenAPI document`];
  const response = resolveResponse(declared);
  if (!response.content) return body === undefined ? [] : [`${where}: declared without content but answered ${JSON.stringify(body)}`];
  const mediaType = (contentType ?? '').split(';')[0]?.trim() ?? '';
  const media = response.content[mediaType];
  if (!media) return [`${where}: content type '${mediaType}' not declared`];
  if (mediaType !== 'application/json') return [];
  const ref = media.schema?.$ref;
  if (!ref) return [`${where}: JSON responses must reference a component schema`];
  const validate = validatorFor(ref);
  if (validate(body)) return [];
  return (validate.errors ?? []).map((e) => `${where}: ${e.instancePath || '/'} ${e.message ?? 'invalid'} (${ref})`);
}
