// protobufjs messages to proto3 canonical JSON (https://protobuf.dev/programming-guides/proto3/#json), the
// form of the resources contract: camelCase names, defaults omitted, enums by name, 64-bit integers and bytes as
// strings, Duration as "1.5s", wrappers as their bare value, and Anys expanded with `@type`. protobufjs's own
// `toObject` expands Anys but keeps Duration and wrappers as objects, hence this walk over the reflection types.
import protobuf from 'protobufjs';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Fields = Record<string, unknown>;

const wrapperTypes = new Set([
  '.google.protobuf.DoubleValue', '.google.protobuf.FloatValue', '.google.protobuf.Int64Value', '.google.protobuf.UInt64Value',
  '.google.protobuf.Int32Value', '.google.protobuf.UInt32Value', '.google.protobuf.BoolValue', '.google.protobuf.StringValue',
  '.google.protobuf.BytesValue',
]);

/** Well-known types whose JSON is not an object: inside an Any they sit under `value`. */
const specialJson = new Set([...wrapperTypes, '.google.protobuf.Duration', '.google.protobuf.Timestamp',
  '.google.protobuf.Struct', '.google.protobuf.Value', '.google.protobuf.ListValue', '.google.protobuf.FieldMask']);

function isLong(value: unknown): value is { toString(): string } {
  return typeof value === 'object' && value !== null && 'low' in value && 'high' in value;
}

function scalar(type: string, value: unknown): Json {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (isLong(value) || (typeof value === 'number' && /64$/.test(type))) return String(value);
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  return value as Json;
}

function isDefault(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  if (value === false || value === 0 || value === '') return true;
  if (value instanceof Uint8Array) return value.length === 0;
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

function fieldValue(field: protobuf.Field, value: unknown, root: protobuf.Root): Json {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) {
    return typeof value === 'number' ? resolved.valuesById[value] ?? value : scalar(field.type, value);
  }
  if (resolved instanceof protobuf.Type) return messageToJson(resolved, value as Fields, root);
  return scalar(field.type, value);
}

/** One decoded message (or plain object from `decode`) as proto3 JSON. */
export function messageToJson(type: protobuf.Type, message: Fields, root: protobuf.Root): Json {
  switch (type.fullName) {
    case '.google.protobuf.Any': {
      const typeUrl = String(message.type_url ?? message.typeUrl ?? '');
      const inner = root.lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
      const value = message.value instanceof Uint8Array ? message.value : new Uint8Array(0);
      const json = messageToJson(inner, inner.decode(value) as unknown as Fields, root);
      if (specialJson.has(inner.fullName)) return { '@type': typeUrl, value: json };
      return { '@type': typeUrl, ...(json as Record<string, Json>) };
    }
    case '.google.protobuf.Duration':
      return durationText(String(message.seconds ?? 0), Number(message.nanos ?? 0));
    case '.google.protobuf.Timestamp': {
      const millis = Number(String(message.seconds ?? 0)) * 1000 + Math.floor(Number(message.nanos ?? 0) / 1e6);
      return new Date(millis).toISOString();
    }
    case '.google.protobuf.Struct': {
      const out: Record<string, Json> = {};
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
  const out: Record<string, Json> = {};
  for (const field of type.fieldsArray) {
    const value = message[field.name];
    if (value === undefined || value === null) continue;
    if (field.map) {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0) continue;
      const map: Record<string, Json> = {};
      for (const [key, entry] of entries) map[key] = fieldValue(field, entry, root);
      out[field.name] = map;
    } else if (field.repeated) {
      const list = value as unknown[];
      if (list.length === 0) continue;
      out[field.name] = list.map((entry) => fieldValue(field, entry, root));
    } else {
      // Scalars without presence are omitted at their default; message fields and oneof members are kept.
      const hasPresence = field.resolvedType instanceof protobuf.Type || field.partOf !== null || field.options?.proto3_optional === true;
      if (!hasPresence && isDefault(value)) continue;
      if (field.partOf !== null && !Object.prototype.hasOwnProperty.call(message, field.name)) continue;
      out[field.name] = fieldValue(field, value, root);
    }
  }
  return out;
}
