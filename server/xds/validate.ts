import protobuf from 'protobufjs';
import { envoyProtoRoot } from './envoy-proto-root.ts';
import { type EnvoyResources, type ResourceKind, resourceName, typeUrls } from './resources.ts';

/**
 * Strict check of generated resources against Envoy's protos: what Envoy itself would refuse (an unknown field,
 * a value of the wrong type or enum, an `@type` that names no known message, a protoc-gen-validate rule that
 * Envoy enforces on load) and what it would accept with a warning (a deprecated field). Proto3 JSON as in
 * resources.ts: camelCase field names, `@type` inside every google.protobuf.Any.
 */
export interface ValidationIssue {
  /** `<kind>/<resource name>`. */
  resource: string;
  /** JSON path inside the resource (`filterChains[0].filters[0].typedConfig.httpFilters[1]`). */
  path: string;
  message: string;
}

const typePrefix = 'type.googleapis.com/';
const int32 = new Set(['int32', 'sint32', 'sfixed32']);
const uint32 = new Set(['uint32', 'fixed32']);
const int64 = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);
const durationPattern = /^-?\d+(\.\d{1,9})?s$/;
const timestampPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const base64Pattern = /^[A-Za-z0-9+/_-]*={0,2}$/;

type Check = (value: unknown, path: string) => void;

class Checker {
  readonly issues: ValidationIssue[] = [];
  constructor(private readonly root: protobuf.Root, private readonly resource: string) {}

  private issue(path: string, message: string): void {
    this.issues.push({ resource: this.resource, path: path === '' ? '.' : path, message });
  }

  /** Well-known types with a special JSON form (https://protobuf.dev/programming-guides/json/). */
  private wellKnown(fullName: string): Check | null {
    const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
    const scalar = (ok: (v: unknown) => boolean, what: string): Check => (v, p) => {
      if (!ok(v)) this.issue(p, `must be ${what}`);
    };
    switch (fullName) {
      case '.google.protobuf.Duration':
        return scalar((v) => typeof v === 'string' && durationPattern.test(v), 'a duration string such as "5s"');
      case '.google.protobuf.Timestamp':
        return scalar((v) => typeof v === 'string' && timestampPattern.test(v), 'an RFC 3339 timestamp');
      case '.google.protobuf.FieldMask':
        return scalar((v) => typeof v === 'string', 'a field mask string');
      case '.google.protobuf.Struct':
        return scalar((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'an object');
      case '.google.protobuf.ListValue':
        return scalar(Array.isArray, 'an array');
      case '.google.protobuf.Value':
        return () => {};
      case '.google.protobuf.StringValue':
        return scalar((v) => typeof v === 'string', 'a string');
      case '.google.protobuf.BytesValue':
        return scalar((v) => typeof v === 'string' && base64Pattern.test(v), 'base64');
      case '.google.protobuf.BoolValue':
        return scalar((v) => typeof v === 'boolean', 'a boolean');
      case '.google.protobuf.DoubleValue':
      case '.google.protobuf.FloatValue':
        return scalar((v) => typeof v === 'number', 'a number');
      case '.google.protobuf.Int32Value':
        return scalar((v) => isInt(v) && (v as number) >= -(2 ** 31) && (v as number) < 2 ** 31, 'a 32-bit integer');
      case '.google.protobuf.UInt32Value':
        return scalar((v) => isInt(v) && (v as number) >= 0 && (v as number) < 2 ** 32, 'an unsigned 32-bit integer');
      case '.google.protobuf.Int64Value':
      case '.google.protobuf.UInt64Value':
        return scalar((v) => isInt(v) || (typeof v === 'string' && /^-?\d+$/.test(v)), 'an integer');
      default:
        return null;
    }
  }

  private scalar(type: string, value: unknown, path: string): void {
    const isInt = typeof value === 'number' && Number.isInteger(value);
    const ok =
      type === 'string' ? typeof value === 'string'
      : type === 'bool' ? typeof value === 'boolean'
      : type === 'bytes' ? typeof value === 'string' && base64Pattern.test(value)
      : type === 'double' || type === 'float' ? typeof value === 'number' || value === 'NaN' || value === 'Infinity' || value === '-Infinity'
      : int32.has(type) ? isInt && (value as number) >= -(2 ** 31) && (value as number) < 2 ** 31
      : uint32.has(type) ? isInt && (value as number) >= 0 && (value as number) < 2 ** 32
      : int64.has(type) ? isInt || (typeof value === 'string' && /^-?\d+$/.test(value))
      : false;
    if (!ok) this.issue(path, `must be of type ${type}, got ${JSON.stringify(value)}`);
  }

  private enumValue(type: protobuf.Enum, value: unknown, path: string): void {
    if (typeof value === 'string' && value in type.values) return;
    if (typeof value === 'number' && Object.values(type.values).includes(value)) return;
    this.issue(path, `must be one of ${Object.keys(type.values).join(', ')} (${type.fullName.slice(1)}), got ${JSON.stringify(value)}`);
  }

  private single(field: protobuf.Field, value: unknown, path: string): void {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Enum) this.enumValue(resolved, value, path);
    else if (resolved instanceof protobuf.Type) this.message(resolved, value, path);
    else this.scalar(field.type, value, path);
  }

  private field(field: protobuf.Field, value: unknown, path: string): void {
    if (value === null) return this.issue(path, 'must not be null (omit the field instead)');
    if (field instanceof protobuf.MapField) {
      if (typeof value !== 'object' || Array.isArray(value)) return this.issue(path, 'must be an object (map)');
      for (const [k, v] of Object.entries(value)) this.single(field, v, `${path}.${k}`);
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) return this.issue(path, 'must be an array');
      value.forEach((v: unknown, i) => this.single(field, v, `${path}[${i}]`));
      rulesOfRepeated(field, value.length, (m) => this.issue(path, m));
      return;
    }
    this.single(field, value, path);
  }

  private any(value: Record<string, unknown>, path: string): void {
    const typeUrl = value['@type'];
    if (typeof typeUrl !== 'string' || !typeUrl.startsWith(typePrefix)) return this.issue(`${path}.@type`, `must be "${typePrefix}<message>"`);
    const type = this.root.lookup(typeUrl.slice(typePrefix.length));
    if (!(type instanceof protobuf.Type)) return this.issue(`${path}.@type`, `unresolvable type ${typeUrl}`);
    const { '@type': _type, ...rest } = value;
    const special = this.wellKnown(type.fullName);
    if (special) {
      const keys = Object.keys(rest);
      if (keys.length !== 1 || keys[0] !== 'value') return this.issue(path, `an Any of ${type.fullName.slice(1)} holds exactly "value"`);
      return special(rest.value, `${path}.value`);
    }
    this.message(type, rest, path);
  }

  message(type: protobuf.Type, value: unknown, path: string): void {
    const special = this.wellKnown(type.fullName);
    if (special) return special(value, path);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return this.issue(path, `must be an object (${type.fullName.slice(1)})`);
    const record = value as Record<string, unknown>;
    if (type.fullName === '.google.protobuf.Any') return this.any(record, path);
    const setOneofs = new Map<string, string>();
    for (const [key, v] of Object.entries(record)) {
      const at = path === '' ? key : `${path}.${key}`;
      const field = type.fields[key];
      if (!field) {
        const camel = key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
        this.issue(at, type.fields[camel] ? `unknown field "${key}" (proto3 JSON uses "${camel}")` : `unknown field "${key}" in ${type.fullName.slice(1)}`);
        continue;
      }
      if (field.options?.deprecated === true) this.issue(at, `deprecated field ${type.fullName.slice(1)}.${key}`);
      const oneof = field.partOf;
      if (oneof) {
        const other = setOneofs.get(oneof.name);
        if (other !== undefined) this.issue(at, `only one of oneof "${oneof.name}" may be set (also "${other}")`);
        setOneofs.set(oneof.name, key);
      }
      this.field(field, v, at);
    }
    for (const field of type.fieldsArray) {
      if (field.partOf || field.name in record) continue;
      const rules = field.options ?? {};
      const at = path === '' ? field.name : `${path}.${field.name}`;
      if (rules['(validate.rules).message.required'] === true) this.issue(at, 'is required');
      else if (typeof rules['(validate.rules).string.min_len'] === 'number' && rules['(validate.rules).string.min_len'] > 0) this.issue(at, 'is required (non-empty string)');
      else if (field.repeated) rulesOfRepeated(field, 0, (m) => this.issue(at, m));
    }
    for (const oneof of type.oneofsArray) {
      if (oneof.options?.['(validate.required)'] === true && !setOneofs.has(oneof.name)) {
        this.issue(path, `one of ${oneof.oneof.join(', ')} is required`);
      }
    }
  }
}

function rulesOfRepeated(field: protobuf.Field, length: number, report: (message: string) => void): void {
  const min = field.options?.['(validate.rules).repeated.min_items'];
  if (typeof min === 'number' && length < min) report(`needs at least ${min} item(s)`);
}

function messageTypeOf(kind: ResourceKind, root: protobuf.Root): protobuf.Type {
  return root.lookupType(typeUrls[kind].slice(typePrefix.length));
}

/** Every issue of one message of type `typeName` (fully qualified, e.g. `envoy.config.cluster.v3.Cluster`). */
export function validateMessage(typeName: string, value: unknown, resource = typeName): ValidationIssue[] {
  const root = envoyProtoRoot();
  const checker = new Checker(root, resource);
  checker.message(root.lookupType(typeName), value, '');
  return checker.issues;
}

/** Every issue of a snapshot's resources; empty when Envoy would take them as they are. */
export function validateResources(resources: EnvoyResources): ValidationIssue[] {
  const root = envoyProtoRoot();
  const issues: ValidationIssue[] = [];
  for (const kind of Object.keys(typeUrls) as ResourceKind[]) {
    const type = messageTypeOf(kind, root);
    for (const resource of resources[kind]) {
      const checker = new Checker(root, `${kind}/${resourceName(kind, resource)}`);
      checker.message(type, resource, '');
      issues.push(...checker.issues);
    }
  }
  return issues;
}
