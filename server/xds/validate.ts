import protobuf from 'protobufjs';
import { envoyProtoRoot } from '../envoy/protos.ts';
import { fieldOf } from '../envoy/proto-json.ts';
import { checkConsistency } from './consistency.ts';
import { type EnvoyResources, type ResourceKind, resourceName, typeUrls } from '../envoy/resources.ts';

/**
 * Strict check of generated resources against Envoy's protos: what Envoy itself would refuse (an unknown field,
 * a value of the wrong type or enum, an `@type` that names no known message, a protoc-gen-validate rule that
 * Envoy enforces on load) and what it would accept with a warning (a deprecated field). Proto3 JSON as in
 * server/envoy/resources.ts: camelCase field names, `@type` inside every google.protobuf.Any.
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

/** What a message must have when absent fields are checked, computed once per type (not per instance). */
interface TypeRules {
  /** Fields outside oneofs that must be present, with the message when one is absent, in field order. */
  absent: { name: string; message: string }[];
  requiredOneofs: { name: string; message: string }[];
}

const typeRules = new WeakMap<protobuf.Type, TypeRules>();

function rulesOf(type: protobuf.Type): TypeRules {
  let rules = typeRules.get(type);
  if (rules) return rules;
  rules = { absent: [], requiredOneofs: [] };
  for (const field of type.fieldsArray) {
    if (field.partOf) continue;
    const options = field.options ?? {};
    const minLen = options['(validate.rules).string.min_len'];
    const minItems = options['(validate.rules).repeated.min_items'];
    if (options['(validate.rules).message.required'] === true) rules.absent.push({ name: field.name, message: 'is required' });
    else if (typeof minLen === 'number' && minLen > 0) rules.absent.push({ name: field.name, message: 'is required (non-empty string)' });
    else if (field.repeated && typeof minItems === 'number' && minItems > 0) rules.absent.push({ name: field.name, message: `needs at least ${minItems} item(s)` });
  }
  for (const oneof of type.oneofsArray) {
    if (oneof.options?.['(validate.required)'] === true) rules.requiredOneofs.push({ name: oneof.name, message: `one of ${oneof.oneof.join(', ')} is required` });
  }
  typeRules.set(type, rules);
  return rules;
}

/** Messages of these types are cached as units of their own (a route configuration holds one per operation). */
const nestedUnitTypes = new Set(['.envoy.config.route.v3.Route']);

class Checker {
  readonly issues: ValidationIssue[] = [];
  constructor(
    private readonly root: protobuf.Root,
    private resource: string,
    private readonly units: UnitResults | null = null,
  ) {}

  /** Checks one more resource with this checker (issues accumulate). */
  check(type: protobuf.Type, value: unknown, resource: string): void {
    this.resource = resource;
    this.message(type, value, '');
  }

  /** A unit's issues (paths relative to it) as found at `path` (`''`: the root of `resource`, default the current one). */
  replay(relative: readonly UnitIssue[], path: string, resource = this.resource): void {
    this.resource = resource;
    for (const issue of relative) this.issues.push({ resource, path: joinRelative(path, issue.path), message: issue.message });
  }

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
      const unit = this.units !== null && field.resolvedType instanceof protobuf.Type && nestedUnitTypes.has(field.resolvedType.fullName) ? field.resolvedType : null;
      for (let i = 0; i < value.length; i++) {
        // Holes are skipped, as forEach would (JSON has none; hand-built arrays might).
        if (!(i in value)) continue;
        if (unit === null) this.single(field, value[i], `${path}[${i}]`);
        else {
          // A unit already decided: its path is only built when it has something to report.
          const result = this.units!.resultOf(unit, value[i], this.root);
          if (result.length > 0) this.replay(result, `${path}[${i}]`);
        }
      }
      const min = field.options?.['(validate.rules).repeated.min_items'];
      if (typeof min === 'number' && value.length < min) this.issue(path, `needs at least ${min} item(s)`);
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
    if (this.units !== null && path !== '' && nestedUnitTypes.has(type.fullName)) {
      return this.replay(this.units.resultOf(type, value, this.root), path);
    }
    this.walk(type, value, path);
  }

  private walk(type: protobuf.Type, value: unknown, path: string): void {
    const special = this.wellKnown(type.fullName);
    if (special) return special(value, path);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return this.issue(path, `must be an object (${type.fullName.slice(1)})`);
    const record = value as Record<string, unknown>;
    if (type.fullName === '.google.protobuf.Any') return this.any(record, path);
    const setOneofs = new Map<string, string>();
    for (const key of Object.keys(record)) {
      const v = record[key];
      const at = path === '' ? key : `${path}.${key}`;
      const field = fieldOf(type, key);
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
    // Only the fields and oneofs that have a rule, not every field of the type for every instance.
    const rules = rulesOf(type);
    for (const absent of rules.absent) {
      if (!(absent.name in record)) this.issue(path === '' ? absent.name : `${path}.${absent.name}`, absent.message);
    }
    for (const oneof of rules.requiredOneofs) if (!setOneofs.has(oneof.name)) this.issue(path, oneof.message);
  }
}

/** A unit's issue, its path relative to the unit (`.` = the unit itself). */
type UnitIssue = Pick<ValidationIssue, 'path' | 'message'>;

function joinRelative(at: string, relative: string): string {
  if (at === '') return relative;
  if (relative === '.') return at;
  return relative.startsWith('.') || relative.startsWith('[') ? `${at}${relative}` : `${at}.${relative}`;
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

/**
 * Every issue of a snapshot's resources; empty when Envoy would take them as they are and every name they use
 * resolves (consistency.ts): a snapshot Envoy would accept but then black-hole traffic with is refused too.
 */
export function validateResources(resources: EnvoyResources, cache: ValidationCache | null = null): ValidationIssue[] {
  const root = envoyProtoRoot();
  const checker = new Checker(root, '', cache);
  for (const kind of Object.keys(typeUrls) as ResourceKind[]) {
    const type = messageTypeOf(kind, root);
    for (const resource of resources[kind]) {
      const name = `${kind}/${resourceName(kind, resource)}`;
      if (cache !== null && unitKinds.has(kind)) checker.replay(cache.resultOf(type, resource, root), '', name);
      else checker.check(type, resource, name);
    }
  }
  return [...checker.issues, ...checkConsistency(resources)];
}

/**
 * Resources checked (and cached) as a whole. The listener and the route configuration are single resources that
 * change with every API; they are walked, and within them each route is its own unit.
 */
const unitKinds = new Set<ResourceKind>(['cluster', 'clusterLoadAssignment']);

/** A unit's result (its issues, paths relative to it), when it has been decided for this validation. */
interface UnitResults {
  resultOf(type: protobuf.Type, value: unknown, root: protobuf.Root): readonly UnitIssue[];
}

/**
 * Results of the strict check per unit (a cluster, a load assignment, a route), kept from one validation to the
 * next by the unit's name and compared by its JSON text: the check is a pure function of a unit's type and
 * content, so a unit whose JSON is unchanged keeps its result (invalid ones keep their issues: an unchanged
 * invalid resource is still reported), and a changed one, by a single byte, is walked again. Only what the last
 * validation saw is kept.
 */
export class ValidationCache implements UnitResults {
  private last = new Map<string, { json: string; result: readonly UnitIssue[] }>();
  private next = new Map<string, { json: string; result: readonly UnitIssue[] }>();
  /** This validation's decisions by object, for the walk that assembles the issues in order. */
  private decided = new WeakMap<object, readonly UnitIssue[]>();
  /** Units walked / reused by the latest validation. */
  walked = 0;
  reused = 0;

  begin(): void {
    this.next = new Map();
    this.decided = new WeakMap();
    this.walked = 0;
    this.reused = 0;
  }

  /** Decides one unit (`id` names it within the snapshot: kind, and names). */
  decide(id: string, type: protobuf.Type, value: unknown, root: protobuf.Root): void {
    if (typeof value !== 'object' || value === null) return;
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch {
      return;
    }
    if (json === undefined) return;
    const known = this.next.get(id) ?? this.last.get(id);
    let result: readonly UnitIssue[];
    if (known !== undefined && known.json === json) {
      result = known.result;
      this.reused += 1;
    } else {
      result = walkUnit(root, type, value);
      this.walked += 1;
    }
    this.next.set(id, { json, result });
    this.decided.set(value, result);
  }

  /** Makes this validation's units the ones the next validation compares against. */
  commit(): void {
    this.last = this.next;
    this.next = new Map();
  }

  resultOf(type: protobuf.Type, value: unknown, root: protobuf.Root): readonly UnitIssue[] {
    const decided = typeof value === 'object' && value !== null ? this.decided.get(value) : undefined;
    return decided ?? walkUnit(root, type, value);
  }
}

function walkUnit(root: protobuf.Root, type: protobuf.Type, value: unknown): readonly UnitIssue[] {
  const checker = new Checker(root, '');
  checker.message(type, value, '');
  return checker.issues.map(({ path, message }) => ({ path, message }));
}

export interface AsyncValidationOptions {
  /** Longest stretch of synchronous work before yielding to the event loop. @default 10 */
  sliceMs?: number;
}

/**
 * The same result as `validateResources(resources, cache)`, without holding the event loop: every unit that is
 * not cached yet is checked first in slices of at most `sliceMs` (yielding with setImmediate in between), then
 * the one synchronous walk over the snapshot finds each unit already decided. With an unchanged catalogue the
 * work is serialising the units to compare them; a changed API costs its own routes and clusters.
 */
export async function validateResourcesAsync(resources: EnvoyResources, cache: ValidationCache, options: AsyncValidationOptions = {}): Promise<ValidationIssue[]> {
  const sliceMs = options.sliceMs ?? 10;
  const root = envoyProtoRoot();
  cache.begin();
  let sliceStart = performance.now();
  const pause = async () => {
    if (performance.now() - sliceStart < sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    sliceStart = performance.now();
  };
  for (const kind of unitKinds) {
    const type = messageTypeOf(kind, root);
    for (const resource of resources[kind]) {
      cache.decide(`${kind}/${resourceName(kind, resource)}`, type, resource, root);
      await pause();
    }
  }
  const routeType = root.lookupType('envoy.config.route.v3.Route');
  for (const configuration of resources.routeConfiguration) {
    const hosts = configuration.virtualHosts;
    if (!Array.isArray(hosts)) continue;
    for (const host of hosts as unknown[]) {
      if (typeof host !== 'object' || host === null) continue;
      const { name: hostName, routes } = host as { name?: unknown; routes?: unknown };
      if (!Array.isArray(routes)) continue;
      for (let i = 0; i < routes.length; i++) {
        const route: unknown = routes[i];
        const name = typeof route === 'object' && route !== null ? (route as { name?: unknown }).name : undefined;
        // Names make the comparison with the last snapshot's route; a clash only costs a walk.
        cache.decide(`route/${String(configuration.name)}/${String(hostName)}/${typeof name === 'string' ? name : `#${i}`}`, routeType, route, root);
        await pause();
      }
    }
  }
  const issues = validateResources(resources, cache);
  cache.commit();
  return issues;
}

