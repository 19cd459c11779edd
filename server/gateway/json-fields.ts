// Small readers over proto3 JSON objects (the resources arrive as untyped JSON). Each throws a ConfigError
// naming the field, so a malformed resource is reported with its place rather than failing later on a request.

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function objectAt(parent: JsonObject, key: string, where: string): JsonObject | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new ConfigError(`${where}.${key} must be an object`);
  return value;
}

export function arrayAt(parent: JsonObject, key: string, where: string): JsonObject[] {
  const value = parent[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every(isObject)) throw new ConfigError(`${where}.${key} must be an array of objects`);
  return value;
}

export function stringAt(parent: JsonObject, key: string, where: string): string | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ConfigError(`${where}.${key} must be a string`);
  return value;
}

export function booleanAt(parent: JsonObject, key: string, where: string): boolean | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new ConfigError(`${where}.${key} must be a boolean`);
  return value;
}

/** uint32 fields are JSON numbers; wrapper types (UInt32Value) are the bare number in proto3 JSON. */
export function numberAt(parent: JsonObject, key: string, where: string): number | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number)) throw new ConfigError(`${where}.${key} must be a number`);
  return number;
}
