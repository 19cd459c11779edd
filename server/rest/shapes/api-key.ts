import type { ApiKey, CreateApiKeyInput } from '../../domain/api-keys/index.ts';
import type { ExpiresIn } from '../../domain/api-keys/index.ts';
import { ValidationError } from '../../domain/errors.ts';
import { isRecord } from '../../json/is-record.ts';
import { FieldReader, objectBody } from './body.ts';
import { toRestTime, toRestTimeOrNull } from './time.ts';

export interface RestApiKeyJson {
  name: string;
  displayName: string;
  /** The clear value where the call made it (create, regenerate), else the masked form `***` + last 5. */
  apiKey: string;
  /** The API's handle. */
  apiId: string;
  status: 'active' | 'revoked' | 'expired';
  createdAt: string;
  createdBy: string | null;
  expiresAt: string | null;
  source: string;
}

/** A v0.9 APIKey; `value` only from the call that made it. A key without a display name shows its name. */
export function toRestApiKey(key: ApiKey, apiHandle: string, value?: string): RestApiKeyJson {
  return {
    name: key.name,
    displayName: key.displayName ?? key.name,
    apiKey: value ?? key.masked,
    apiId: apiHandle,
    status: key.status,
    createdAt: toRestTime(key.createdAt),
    createdBy: key.createdBy,
    expiresAt: toRestTimeOrNull(key.expiresAt),
    source: key.source,
  };
}

export interface RestApiKeyResponseJson {
  status: 'success';
  message: string;
  remainingApiKeyQuota: number;
  apiKey: RestApiKeyJson;
}

export function apiKeyResponse(message: string, remainingApiKeyQuota: number, apiKey: RestApiKeyJson): RestApiKeyResponseJson {
  return { status: 'success', message, remainingApiKeyQuota, apiKey };
}

function expiresIn(value: unknown, reader: FieldReader): ExpiresIn | null | undefined {
  if (value === undefined || value === null) return value;
  if (!isRecord(value)) {
    reader.issues.push({ path: 'expiresIn', message: 'expiresIn must be an object with unit and duration' });
    return undefined;
  }
  const { unit, duration } = value;
  if (typeof unit !== 'string') reader.issues.push({ path: 'expiresIn.unit', message: 'expiresIn.unit is required' });
  if (typeof duration !== 'number') reader.issues.push({ path: 'expiresIn.duration', message: 'expiresIn.duration must be a number' });
  // The unit's allowed values and the duration's range are the domain's rules (resolveExpiry).
  return typeof unit === 'string' && typeof duration === 'number' ? ({ unit, duration } as ExpiresIn) : undefined;
}

/** APIKeyCreationRequest: every field optional (`{}` or no body makes a generated key with a generated name). */
export function fromCreateApiKeyBody(apiId: string, body: unknown): CreateApiKeyInput {
  const fields = objectBody(body, { required: false });
  const reader = new FieldReader(fields);
  const input: CreateApiKeyInput = {
    apiId,
    name: reader.string('name'),
    displayName: reader.string('displayName'),
    apiKey: reader.string('apiKey'),
    expiresAt: reader.instant('expiresAt'),
    expiresIn: expiresIn(fields.expiresIn, reader),
  };
  reader.assertValid();
  return input;
}

/** APIKeyUpdateRequest: the custom `apiKey` value; `name`, when given, must be the key's name in the path. */
export function fromUpdateApiKeyBody(pathName: string, body: unknown): { customValue: string } {
  const reader = new FieldReader(objectBody(body, { required: true }));
  const name = reader.string('name');
  const customValue = reader.string('apiKey', { required: true });
  reader.assertValid();
  if (name !== undefined && name !== null && name !== pathName) {
    // The reference's words (it answers them with a 500; we keep the client's 400).
    const message = `API key name mismatch: name in request body '${name}' must match the key name in URL '${pathName}'`;
    throw new ValidationError([{ path: 'name', message }], message);
  }
  return { customValue: customValue as string };
}
