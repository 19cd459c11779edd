// proto3 canonical JSON (https://protobuf.dev/programming-guides/proto3/#json), the form of the resources
// contract, both ways. protobufjs understands `@type` inside Any, but not the JSON forms of the other well-known
// types (`"5s"` for a Duration, a bare number for a UInt32Value, plain JSON for a Struct), which Envoy resources
// use everywhere; hence these walks over the reflection types.
import protobuf from 'protobufjs';
import { isRecord } from '../json/is-record.ts';
import { messageType } from './protos.ts';

const wrapperTypes = new Set(
  ['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map((n) => `.google.protobuf.${n}Value`),
);

type Json = unknown;
type Type = protobuf.Type;

/**
 * A field's proto3 JSON name (protoc's json_name: every `_` dropped, the next character upper-cased). protobufjs
 * upper-cases only letters, so its name for `consecutive_5xx` keeps the `_`; Envoy prints `consecutive5xx`.
 */
export function jsonFieldName(field: protobuf.Field): string {
  return field.name.includes('_') ? field.name.replace(/_(.)/g, (_m, c: string) => c.toUpperCase()) : field.name;
}

/** The field a proto3 JSON key names: by protobufjs name, else by json_name (the `_<digit>` fields). */
export function fieldOf(type: Type, key: string): protobuf.Field | undefined {
  const field = type.fields[key];
  if (field !== undefined || !/\d/.test(key)) return field;
  return type.fieldsArray.find((f) => f.name.includes('_') && jsonFieldName(f) === key);
}

/* proto3 JSON → the object shape protobufjs `fromObject` expects (encoding). Unknown fields are passed through
 * untouched: strictness is the strict check's job (server/xds/validate.ts), not the encoder's. */

/** "1.5s" → { seconds: "1", nanos: 500000000 } (negative durations keep both parts negative). */
function durationFromJson(text: string): { seconds: string; nanos: number } {
  const match = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(text);
  if (!match) throw new Error(`invalid google.protobuf.Duration '${text}'`);
  const sign = match[1] ? -1 : 1;
  const nanos = Number((match[3] ?? '').padEnd(9, '0')) * sign;
  return { seconds: `${sign < 0 ? '-' : ''}${match[2]}`, nanos: nanos === 0 ? 0 : nanos };
}

function timestampFromJson(text: string): { seconds: string; nanos: number } {
  const millis = Date.parse(text);
  if (Number.isNaN(millis)) throw new Error(`invalid google.protobuf.Timestamp '${text}'`);
  const fraction = /\.(\d{1,9})/.exec(text)?.[1] ?? '';
  return { seconds: String(Math.floor(millis / 1000)), nanos: Number(fraction.padEnd(9, '0')) };
}

function valueFromJson(value: Json): Record<string, unknown> {
  if (value === null) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(valueFromJson) } };
  if (isRecord(value)) return { structValue: structFromJson(value) };
  throw new Error(`cannot represent ${typeof value} as google.protobuf.Value`);
}

function structFromJson(value: Record<string, unknown>): Record<string, unknown> {
  return { fields: Object.fromEntries(Object.entries(value).map(([k, v]) => [k, valueFromJson(v)])) };
}

/** The well-known types whose JSON form is not an object of their fields; undefined = not special. */
function wellKnownFromJson(fullName: string, value: Json): Record<string, unknown> | undefined {
  if (fullName === '.google.protobuf.Duration' && typeof value === 'string') return durationFromJson(value);
  if (fullName === '.google.protobuf.Timestamp' && typeof value === 'string') return timestampFromJson(value);
  if (fullName === '.google.protobuf.FieldMask' && typeof value === 'string') {
    return { paths: value === '' ? [] : value.split(',') };
  }
  if (wrapperTypes.has(fullName) && !isRecord(value)) return { value };
  if (fullName === '.google.protobuf.Struct' && isRecord(value)) return structFromJson(value);
  if (fullName === '.google.protobuf.Value') return valueFromJson(value);
  if (fullName === '.google.protobuf.ListValue' && Array.isArray(value)) return { values: value.map(valueFromJson) };
  return undefined;
}

/** An Any in JSON: `@type` plus the message's fields, or `@type` + `value` for a well-known type. */
function anyFromJson(value: Json, root: protobuf.Root): Json {
  if (!isRecord(value) || typeof value['@type'] !== 'string') return value;
  const typeUrl = value['@type'];
  const type = messageType(root, typeUrl);
  const { '@type': _ignored, ...fields } = value;
  const special = 'value' in fields ? wellKnownFromJson(type.fullName, fields.value) : undefined;
  if (special) return { '@type': typeUrl, ...special };
  const converted = messageFromJson(type, fields, root);
  return { '@type': typeUrl, ...(isRecord(converted) ? converted : {}) };
}

function fieldValueFromJson(type: Type | null, value: Json, root: protobuf.Root): Json {
  if (!type) return value; // scalar or enum: protobufjs accepts the JSON forms (enum names, int64 strings, base64)
  if (type.fullName === '.google.protobuf.Any') return anyFromJson(value, root);
  return wellKnownFromJson(type.fullName, value) ?? messageFromJson(type, value, root);
}

/** Converts one message (and everything below it) from proto3 JSON to protobufjs object form. */
export function messageFromJson(type: Type, value: Json, root: protobuf.Root): Json {
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [name, fieldValue] of Object.entries(value)) {
    const field = fieldOf(type, name);
    if (!field || fieldValue === null) {
      out[name] = fieldValue;
      continue;
    }
    const key = field.name;
    field.resolve();
    const fieldType = field.resolvedType && 'fields' in field.resolvedType ? (field.resolvedType as Type) : null;
    if (field.map && isRecord(fieldValue)) {
      out[key] = Object.fromEntries(Object.entries(fieldValue).map(([k, v]) => [k, fieldValueFromJson(fieldType, v, root)]));
    } else if (field.repeated && Array.isArray(fieldValue)) {
      out[key] = fieldValue.map((item: Json) => fieldValueFromJson(fieldType, item, root));
    } else {
      out[key] = fieldValueFromJson(fieldType, fieldValue, root);
    }
  }
  return out;
}

/* A decoded message → proto3 JSON (decoding): camelCase names, defaults omitted, enums by name, 64-bit integers
 * and bytes as strings, Duration as "1.5s", wrappers as their bare value, Anys expanded with `@type`. */

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
type Fields = Record<string, unknown>;

/** Well-known types whose JSON is not an object: inside an Any they sit under `value`. */
const specialJson = new Set([...wrapperTypes, '.google.protobuf.Duration', '.google.protobuf.Timestamp',
  '.google.protobuf.Struct', '.google.protobuf.Value', '.google.protobuf.ListValue', '.google.protobuf.FieldMask']);

function isLong(value: unknown): value is { toString(): string } {
  return typeof value === 'object' && value !== null && 'low' in value && 'high' in value;
}

function scalar(type: string, value: unknown): JsonValue {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (isLong(value) || (typeof value === 'number' && /64$/.test(type))) return String(value);
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  return value as JsonValue;
}

function isDefault(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  if (value === false || value === 0 || value === '') return true;
  if (value instanceof Uint8Array) return value.length === 0;
  // An unset bytes field reads protobufjs's default, an empty (plain) array (HeaderValue.raw_value).
  if (Array.isArray(value)) return value.length === 0;
  if (isLong(value)) return value.toString() === '0';
  return false;
}

function durationText(seconds: string, nanos: number): string {
  if (nanos === 0) return `${seconds}s`;
  // Canonical output has 3, 6 or 9 fractional digits ("1.500s").
  const digits = String(Math.abs(nanos)).padStart(9, '0');
  const fraction = digits.endsWith('000000') ? digits.slice(0, 3) : digits.endsWith('000') ? digits.slice(0, 6) : digits;
  const sign = nanos < 0 && !seconds.startsWith('-') ? '-' : '';
  return `${sign}${seconds}.${fraction}s`;
}

function fieldValue(field: protobuf.Field, value: unknown, root: protobuf.Root): JsonValue {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) {
    return typeof value === 'number' ? resolved.valuesById[value] ?? value : scalar(field.type, value);
  }
  if (resolved instanceof protobuf.Type) return messageToJson(resolved, value as Fields, root);
  return scalar(field.type, value);
}

/** One decoded message (what protobufjs `decode` returns) as proto3 JSON. */
export function messageToJson(type: protobuf.Type, message: Fields, root: protobuf.Root): JsonValue {
  switch (type.fullName) {
    case '.google.protobuf.Any': {
      const typeUrl = String(message.type_url ?? message.typeUrl ?? '');
      const inner = messageType(root, typeUrl);
      const value = message.value instanceof Uint8Array ? message.value : new Uint8Array(0);
      const json = messageToJson(inner, inner.decode(value) as unknown as Fields, root);
      if (specialJson.has(inner.fullName)) return { '@type': typeUrl, value: json };
      return { '@type': typeUrl, ...(json as Record<string, JsonValue>) };
    }
    case '.google.protobuf.Duration':
      return durationText(String(message.seconds ?? 0), Number(message.nanos ?? 0));
    case '.google.protobuf.Timestamp': {
      const millis = Number(String(message.seconds ?? 0)) * 1000 + Math.floor(Number(message.nanos ?? 0) / 1e6);
      return new Date(millis).toISOString();
    }
    case '.google.protobuf.Struct': {
      const out: Record<string, JsonValue> = {};
      const valueType = root.lookupType('google.protobuf.Value');
      for (const [key, value] of Object.entries((message.fields ?? {}) as Record<string, Fields>)) out[key] = messageToJson(valueType, value, root);
      return out;
    }
    case '.google.protobuf.Value': {
      if (message.structValue !== undefined && message.structValue !== null) return messageToJson(root.lookupType('google.protobuf.Struct'), message.structValue as Fields, root);
      if (message.listValue !== undefined && message.listValue !== null) return messageToJson(root.lookupType('google.protobuf.ListValue'), message.listValue as Fields, root);
      if (typeof message.numberValue === 'number') return message.numberValue;
      if (typeof message.stringValue === 'string') return message.stringValue;
      if (typeof message.boolValue === 'boolean') return message.boolValue;
      return null;
    }
    case '.google.protobuf.ListValue': {
      const valueType = root.lookupType('google.protobuf.Value');
      return ((message.values ?? []) as Fields[]).map((value) => messageToJson(valueType, value, root));
    }
    case '.google.protobuf.FieldMask':
      return ((message.paths ?? []) as string[]).join(',');
    default:
      break;
  }
  if (wrapperTypes.has(type.fullName)) {
    const field = type.fields.value;
    return field === undefined ? null : scalar(field.type, message.value ?? (field.type === 'bool' ? false : field.type === 'string' ? '' : 0));
  }
  const out: Record<string, JsonValue> = {};
  for (const field of type.fieldsArray) {
    const value = message[field.name];
    if (value === undefined || value === null) continue;
    if (field.map) {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0) continue;
      const map: Record<string, JsonValue> = {};
      for (const [key, entry] of entries) map[key] = fieldValue(field, entry, root);
      out[jsonFieldName(field)] = map;
    } else if (field.repeated) {
      const list = value as unknown[];
      if (list.length === 0) continue;
      out[jsonFieldName(field)] = list.map((entry) => fieldValue(field, entry, root));
    } else {
      // Scalars without presence are omitted at their default; message fields and oneof members are kept.
      const hasPresence = field.resolvedType instanceof protobuf.Type || field.partOf !== null || field.options?.proto3_optional === true;
      if (!hasPresence && isDefault(value)) continue;
      if (field.partOf !== null && !Object.prototype.hasOwnProperty.call(message, field.name)) continue;
      out[jsonFieldName(field)] = fieldValue(field, value, root);
    }
  }
  return out;
}
