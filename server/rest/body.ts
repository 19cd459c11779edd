import type { IncomingMessage } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ValidationError } from '../domain/errors.ts';
import { assertYamlNesting } from './yaml-limits.ts';

/** Bodies above this are refused with 413 before parsing. */
export const maxBodyBytes = 1024 * 1024;
/** YAML costs far more to parse than JSON (a 256 KiB API definition took ~0.6 s): its own, smaller bound. */
export const maxYamlBodyBytes = 128 * 1024;

export class PayloadTooLargeError extends Error {}

/**
 * A body that is not the JSON or YAML its Content-Type says: 400 on field `body`, the parser's complaint kept
 * (`failed to parse JSON: Unexpected end of JSON input`) as the reference's answers keep Go's. Routes may word the
 * message their own way (`Route.parseFailureMessage`); by default it is `Invalid request body: <cause>`.
 */
export class BodyParseError extends ValidationError {
  constructor(readonly detail: string) {
    super([{ path: 'body', message: detail }], `Invalid request body: ${detail}`);
  }
}
export class UnsupportedMediaTypeError extends Error {}

const yamlTypes = new Set(['application/yaml', 'application/x-yaml', 'text/yaml']);

async function readRaw(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isInteger(declared) && declared > limit) throw new PayloadTooLargeError(`Request body too large (at most ${limit} bytes)`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) throw new PayloadTooLargeError(`Request body too large (at most ${limit} bytes)`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** No Content-Length and no Transfer-Encoding: HTTP/1.1 says there is no body. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * JSON (`application/json`), or YAML for `application/yaml`, `application/x-yaml` and `text/yaml` (v0.9 accepts
 * both); any other type is refused before a byte is read (UnsupportedMediaTypeError, 415), so a form or text/plain
 * body is never taken for JSON. A malformed body is a ValidationError on field `body`, answered 400.
 */
export async function readBody(req: IncomingMessage): Promise<unknown> {
  if (!hasBody(req)) return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const isYaml = yamlTypes.has(type);
  if (!isYaml && type !== 'application/json') {
    throw new UnsupportedMediaTypeError(`Content-Type must be application/json or a YAML type (application/yaml, application/x-yaml, text/yaml), got '${type || 'none'}'`);
  }
  const raw = await readRaw(req, isYaml ? maxYamlBodyBytes : maxBodyBytes);
  if (raw.length === 0) return undefined;
  const text = raw.toString('utf8');
  if (isYaml) assertYamlNesting(text);
  try {
    // logLevel 'error': warnings about a client's YAML (unknown tags) must not reach the process log.
    return isYaml ? parseYaml(text, { maxAliasCount: 50, logLevel: 'error' }) : JSON.parse(text);
  } catch (error: unknown) {
    // The parser's first line only: YAML errors go on with a code frame of the client's text.
    const cause = (error instanceof Error ? error.message : String(error)).split('\n')[0]?.trim() || 'malformed';
    throw new BodyParseError(`failed to parse ${isYaml ? 'YAML' : 'JSON'}: ${cause}`);
  }
}
