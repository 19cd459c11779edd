import type { IncomingMessage } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ValidationError } from '../domain/errors.ts';

/** Bodies above this are refused with 413 before parsing. */
export const maxBodyBytes = 1024 * 1024;

export class PayloadTooLargeError extends Error {}

async function readRaw(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > maxBodyBytes) throw new PayloadTooLargeError('Request body too large');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * JSON by default; YAML for `application/yaml`, `application/x-yaml` and `text/yaml` (v0.9 accepts both).
 * A malformed body is a ValidationError on field `body`, answered 400.
 */
export async function readBody(req: IncomingMessage): Promise<unknown> {
  const raw = await readRaw(req);
  if (raw.length === 0) return undefined;
  const text = raw.toString('utf8');
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const isYaml = type === 'application/yaml' || type === 'application/x-yaml' || type === 'text/yaml';
  try {
    // logLevel 'error': warnings about a client's YAML (unknown tags) must not reach the process log.
    return isYaml ? parseYaml(text, { maxAliasCount: 50, logLevel: 'error' }) : JSON.parse(text);
  } catch {
    throw new ValidationError([{ path: 'body', message: `Request body is not valid ${isYaml ? 'YAML' : 'JSON'}` }], 'Invalid request body');
  }
}
