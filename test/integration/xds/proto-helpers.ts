import protobuf from 'protobufjs';
import type { Type } from 'protobufjs';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `http2_protocol_options` → `http2ProtocolOptions`, as protoc derives a field's JSON name. */
function jsonName(field: string): string {
  return field.replace(/_([a-z0-9])/g, (_, char: string) => char.toUpperCase());
}

/**
 * Envoy's YAML uses the proto field names (snake_case); protobuf's JSON parser accepts them as well as the
 * lowerCamelCase JSON names (https://protobuf.dev/programming-guides/json/: "parsers accept both"). This rewrites
 * field names to JSON names, guided by the message type so that map keys (`typed_extension_protocol_options`
 * keys are extension names) and unknown fields stay as written for the strict checker to judge.
 */
export function withJsonNames(type: Type, value: unknown): unknown {
  if (!isRecord(value)) return value;
  let messageType = type;
  if (type.fullName === '.google.protobuf.Any' && typeof value['@type'] === 'string') {
    const named = type.root.lookup(value['@type'].slice(value['@type'].lastIndexOf('/') + 1));
    if (!(named instanceof protobuf.Type)) return value;
    messageType = named;
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const field = messageType.fields[jsonName(key)];
    if (key === '@type' || !field) {
      out[key] = item;
      continue;
    }
    field.resolve();
    const fieldType = field.resolvedType instanceof protobuf.Type ? field.resolvedType : null;
    const convert = (v: unknown): unknown => (fieldType ? withJsonNames(fieldType, v) : v);
    if (field.map && isRecord(item)) out[field.name] = Object.fromEntries(Object.entries(item).map(([k, v]) => [k, convert(v)]));
    else if (field.repeated && Array.isArray(item)) out[field.name] = item.map(convert);
    else out[field.name] = convert(item);
  }
  return out;
}

function isDefaultScalar(field: protobuf.Field, value: unknown): boolean {
  if (field.resolvedType instanceof protobuf.Enum) return field.resolvedType.values[String(value)] === 0 || value === 0;
  return value === 0 || value === '0' || value === false || value === '';
}

/**
 * Drops what proto3 never puts on the wire (scalars and enums at their zero value, empty repeated and map
 * fields, outside oneofs), so a resource can be compared with what decoding its encoding gives back.
 */
export function withoutDefaults(type: Type, value: unknown): unknown {
  if (!isRecord(value)) return value;
  let messageType = type;
  if (type.fullName === '.google.protobuf.Any' && typeof value['@type'] === 'string') {
    const named = type.root.lookup(value['@type'].slice(value['@type'].lastIndexOf('/') + 1));
    if (!(named instanceof protobuf.Type)) return value;
    messageType = named;
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const field = messageType.fields[key];
    if (key === '@type' || !field) {
      out[key] = item;
      continue;
    }
    field.resolve();
    const fieldType = field.resolvedType instanceof protobuf.Type ? field.resolvedType : null;
    const convert = (v: unknown): unknown => (fieldType ? withoutDefaults(fieldType, v) : v);
    if (field.map && isRecord(item)) {
      if (Object.keys(item).length > 0) out[key] = Object.fromEntries(Object.entries(item).map(([k, v]) => [k, convert(v)]));
    } else if (field.repeated && Array.isArray(item)) {
      if (item.length > 0) out[key] = item.map(convert);
    } else if (fieldType || field.partOf || !isDefaultScalar(field, item)) {
      // Messages and oneof members have presence: an empty one still says something.
      out[key] = convert(item);
    }
  }
  return out;
}
