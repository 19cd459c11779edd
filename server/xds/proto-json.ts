import type { Type } from 'protobufjs';
import { isRecord } from '../json/is-record.ts';

/**
 * proto3 canonical JSON → the object shape protobufjs `fromObject` expects. protobufjs understands `@type`
 * inside Any, but not the JSON forms of the other well-known types (`"5s"` for a Duration, a bare number for a
 * UInt32Value, plain JSON for a Struct), which Envoy resources use everywhere:
 * https://protobuf.dev/programming-guides/json/ (well-known types table).
 * Unknown fields are passed through untouched: strictness is `validate.ts`'s job, not the encoder's.
 */

/** Finds (loading on demand) the message type an Any's `@type` names; throws when it cannot. */
export type TypeResolver = (typeUrl: string) => Type;

type Json = unknown;

const wrapperTypes = new Set(
  ['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map((n) => `.google.protobuf.${n}Value`),
);


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
function anyFromJson(value: Json, resolve: TypeResolver): Json {
  if (!isRecord(value) || typeof value['@type'] !== 'string') return value;
  const typeUrl = value['@type'];
  const type = resolve(typeUrl);
  const { '@type': _ignored, ...fields } = value;
  const special = 'value' in fields ? wellKnownFromJson(type.fullName, fields.value) : undefined;
  if (special) return { '@type': typeUrl, ...special };
  const converted = messageFromJson(type, fields, resolve);
  return { '@type': typeUrl, ...(isRecord(converted) ? converted : {}) };
}

function fieldValueFromJson(type: Type | null, value: Json, resolve: TypeResolver): Json {
  if (!type) return value; // scalar or enum: protobufjs accepts the JSON forms (enum names, int64 strings, base64)
  if (type.fullName === '.google.protobuf.Any') return anyFromJson(value, resolve);
  return wellKnownFromJson(type.fullName, value) ?? messageFromJson(type, value, resolve);
}

/** Converts one message (and everything below it) from proto3 JSON to protobufjs object form. */
export function messageFromJson(type: Type, value: Json, resolve: TypeResolver): Json {
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, fieldValue] of Object.entries(value)) {
    const field = type.fields[key];
    if (!field || fieldValue === null) {
      out[key] = fieldValue;
      continue;
    }
    field.resolve();
    const fieldType = field.resolvedType && 'fields' in field.resolvedType ? (field.resolvedType as Type) : null;
    if (field.map && isRecord(fieldValue)) {
      out[key] = Object.fromEntries(Object.entries(fieldValue).map(([k, v]) => [k, fieldValueFromJson(fieldType, v, resolve)]));
    } else if (field.repeated && Array.isArray(fieldValue)) {
      out[key] = fieldValue.map((item: Json) => fieldValueFromJson(fieldType, item, resolve));
    } else {
      out[key] = fieldValueFromJson(fieldType, fieldValue, resolve);
    }
  }
  return out;
}

/* The other direction: protobufjs `toObject({ json: true })` output → proto3 canonical JSON. */

function durationToJson(value: Record<string, unknown>): string {
  const seconds = BigInt(String(value.seconds ?? 0));
  const nanos = Number(value.nanos ?? 0);
  const negative = seconds < 0n || nanos < 0;
  const whole = (seconds < 0n ? -seconds : seconds).toString();
  if (nanos === 0) return `${negative ? '-' : ''}${whole}s`;
  // proto3 JSON prints 3, 6 or 9 fractional digits.
  let fraction = String(Math.abs(nanos)).padStart(9, '0');
  while (fraction.length > 3 && fraction.endsWith('000')) fraction = fraction.slice(0, -3);
  return `${negative ? '-' : ''}${whole}.${fraction}s`;
}

function valueToJson(value: Json): Json {
  if (!isRecord(value)) return null;
  if ('numberValue' in value) return value.numberValue;
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  if ('structValue' in value) return structToJson(value.structValue);
  if ('listValue' in value) return listToJson(value.listValue);
  return null;
}

function structToJson(value: Json): Record<string, unknown> {
  const fields = isRecord(value) && isRecord(value.fields) ? value.fields : {};
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, valueToJson(v)]));
}

function listToJson(value: Json): Json[] {
  return isRecord(value) && Array.isArray(value.values) ? value.values.map(valueToJson) : [];
}

const wrapperDefaults: Record<string, unknown> = {
  '.google.protobuf.BoolValue': false,
  '.google.protobuf.StringValue': '',
  '.google.protobuf.BytesValue': '',
  '.google.protobuf.Int64Value': '0',
  '.google.protobuf.UInt64Value': '0',
};

function wellKnownToJson(fullName: string, value: Json): { json: Json } | undefined {
  if (!isRecord(value)) return undefined;
  if (fullName === '.google.protobuf.Duration') return { json: durationToJson(value) };
  if (fullName === '.google.protobuf.Timestamp') {
    const millis = Number(value.seconds ?? 0) * 1000 + Math.floor(Number(value.nanos ?? 0) / 1e6);
    return { json: new Date(millis).toISOString() };
  }
  if (fullName === '.google.protobuf.FieldMask') return { json: Array.isArray(value.paths) ? value.paths.join(',') : '' };
  if (wrapperTypes.has(fullName)) return { json: value.value ?? wrapperDefaults[fullName] ?? 0 };
  if (fullName === '.google.protobuf.Struct') return { json: structToJson(value) };
  if (fullName === '.google.protobuf.Value') return { json: valueToJson(value) };
  if (fullName === '.google.protobuf.ListValue') return { json: listToJson(value) };
  return undefined;
}

function anyToJson(value: Json, resolve: TypeResolver): Json {
  if (!isRecord(value) || typeof value['@type'] !== 'string') return value;
  const typeUrl = value['@type'];
  const type = resolve(typeUrl);
  const { '@type': _ignored, ...fields } = value;
  const special = wellKnownToJson(type.fullName, fields);
  if (special) return { '@type': typeUrl, value: special.json };
  const converted = messageToJson(type, fields, resolve);
  return { '@type': typeUrl, ...(isRecord(converted) ? converted : {}) };
}

function fieldValueToJson(type: Type | null, value: Json, resolve: TypeResolver): Json {
  if (!type) return value;
  if (type.fullName === '.google.protobuf.Any') return anyToJson(value, resolve);
  const special = wellKnownToJson(type.fullName, value);
  return special ? special.json : messageToJson(type, value, resolve);
}

/** Converts one decoded message (protobufjs JSON-ish object form) to proto3 canonical JSON. */
export function messageToJson(type: Type, value: Json, resolve: TypeResolver): Json {
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, fieldValue] of Object.entries(value)) {
    const field = type.fields[key];
    if (!field || fieldValue === null) {
      out[key] = fieldValue;
      continue;
    }
    field.resolve();
    const fieldType = field.resolvedType && 'fields' in field.resolvedType ? (field.resolvedType as Type) : null;
    if (field.map && isRecord(fieldValue)) {
      out[key] = Object.fromEntries(Object.entries(fieldValue).map(([k, v]) => [k, fieldValueToJson(fieldType, v, resolve)]));
    } else if (field.repeated && Array.isArray(fieldValue)) {
      out[key] = fieldValue.map((item: Json) => fieldValueToJson(fieldType, item, resolve));
    } else {
      out[key] = fieldValueToJson(fieldType, fieldValue, resolve);
    }
  }
  return out;
}
