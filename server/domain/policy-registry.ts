import { z } from 'zod';
import { isRecord } from '../json/is-record.ts';
import { attachmentConflict } from '../policies/attachment-conflicts.ts';
import { canonicalPolicyName, policyDefinitions as catalogue, policyKindOf } from '../policies/index.ts';
import { hashBasicAuthPassword } from '../policies/basic-auth.ts';
import { type AttachmentPoint, paramsIssues, type PolicyParamsDefinition, type WriteOnlyField } from '../policies/kind.ts';
import { compileCondition, conditionMessage } from './conditions/index.ts';
import type { FieldIssue } from './errors.ts';

export { canonicalPolicyName };

/**
 * The policies the control plane knows: every attachment (`{name, version, params}` on an API, an operation
 * or a plan) is checked here before it is stored, so the xDS translator only ever sees valid params.
 * Param names follow docs/policies.md (what each module's plugin configuration is generated from).
 */
export interface PolicyDefinition {
  /** Canonical name on the wire (`api-key`). */
  name: string;
  /** v0.9 reference-implementation names accepted where the params are compatible (`api-key-auth`). */
  aliases: readonly string[];
  /** The one major version we ship of it; attachments must name it exactly (`v1`, redirect's `v0`). */
  majorVersion: string;
  description: string;
  paramsSchema: z.ZodType<Record<string, unknown>>;
  /** Where it may be attached (server/policies/kind.ts). */
  attachTo: readonly AttachmentPoint[];
  /** Secret fields of the params: write-only for everyone (see `maskSecretParams`, `restoreSecretParams`). */
  writeOnly: readonly WriteOnlyField[];
}

/** An attachment as given by a client; the validator tolerates wrong types (REST bodies are arbitrary JSON). */
export interface PolicyAttachmentInput {
  name: unknown;
  version: unknown;
  executionCondition?: unknown;
  params?: unknown;
}

/**
 * Params as they are stored, from validated params: secrets a policy must not keep are replaced (basic-auth: each
 * `password` by its salted `passwordHash`). Every writer of policy attachments (APIs, operations, plans) calls it
 * before opening its transaction, so the hashing holds no lock.
 */
export async function normalizePolicyParams(name: string, params: Record<string, unknown> | null | undefined): Promise<Record<string, unknown> | null> {
  if (params === null || params === undefined) return null;
  if (canonicalPolicyName(name) !== 'basic-auth' || !Array.isArray(params.users)) return params;
  return {
    ...params,
    users: await Promise.all(
      params.users.map(async (user: unknown) => {
        if (typeof user !== 'object' || user === null) return user;
        const { password, ...rest } = user as Record<string, unknown>;
        return typeof password === 'string' ? { ...rest, passwordHash: await hashBasicAuthPassword(password) } : rest;
      }),
    ),
  };
}

/** `normalizePolicyParams` over a list of attachments. */
export async function normalizePolicies<P extends { name: string; params?: Record<string, unknown> | null | undefined }>(policies: readonly P[]): Promise<P[]> {
  return Promise.all(policies.map(async (p) => ({ ...p, params: await normalizePolicyParams(p.name, p.params) })));
}

function definition(def: PolicyParamsDefinition): PolicyDefinition {
  return { name: def.name, aliases: def.aliases, majorVersion: def.majorVersion ?? 'v1', description: def.description, paramsSchema: def.params, attachTo: def.attachTo, writeOnly: def.writeOnly ?? [] };
}

/** The catalogue of design.md (server/policies/index.ts), canonical names first in each entry. */
export const policyDefinitions: readonly PolicyDefinition[] = catalogue.map(definition);

const byName = new Map(policyDefinitions.map((def) => [def.name, def]));

/** The definition a name or alias refers to (aliases are resolved once, in server/policies/index.ts). */
export function findPolicyDefinition(name: string): PolicyDefinition | undefined {
  const canonical = canonicalPolicyName(name);
  return canonical === undefined ? undefined : byName.get(canonical);
}

/** JSON Schema of a definition's params (for `policyDefinitions` in GraphQL and the docs). */
export function paramsJsonSchema(def: PolicyDefinition): Record<string, unknown> {
  return z.toJSONSchema(def.paramsSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

const majorOnly = /^v\d+$/;
const fullVersion = /^v\d+\.\d+\.\d+$/;

/**
 * The version an attachment is stored with: as given, or, when it gives none, the installed major of its policy
 * (`v1`), as the reference resolves a blank version to the latest installed one. We ship majors only, so the stored
 * and echoed version is `v1` where the reference stores its full `v1.x.y`.
 */
export function resolvePolicyVersion(name: string, version: string | null | undefined): string {
  const trimmed = version?.trim() ?? '';
  if (trimmed !== '') return trimmed;
  return findPolicyDefinition(name)?.majorVersion ?? '';
}

/** What is wrong with a given version (blank is fine: it resolves), in the reference's words (policy_validator.go). */
function versionIssue(name: string, version: string, def: PolicyDefinition | undefined): string | null {
  if (fullVersion.test(version)) return `policy '${name}' version must be major-only (e.g., v1); full semantic version (e.g., v1.0.0) is not allowed`;
  if (!majorOnly.test(version)) return `invalid version format '${version}' for policy '${name}'; expected major-only version (e.g., v1)`;
  if (def && version !== def.majorVersion) return `policy '${name}' major version '${version}' not found in loaded policy definitions`;
  return null;
}

const attachmentPlaces: Record<AttachmentPoint, string> = { api: 'an API', operation: 'an operation', plan: 'a plan' };

/**
 * Every problem of one attachment: known name (or alias), attachable where it sits (`at`), major-only version
 * that the registry has, an execution condition the modules evaluate (docs/execution-conditions.md), and params
 * against the definition's schema. `pathPrefix` is where
 * the attachment sits (`spec.policies[0]`). What passes here is what the data planes serve.
 */
export function validatePolicyAttachment(policy: PolicyAttachmentInput, pathPrefix: string, at: AttachmentPoint): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const { name, version, executionCondition, params } = policy;
  let def: PolicyDefinition | undefined;
  if (typeof name !== 'string' || name.length === 0) {
    issues.push({ path: `${pathPrefix}.name`, message: 'Policy name is required' });
  } else {
    def = findPolicyDefinition(name);
    if (!def) {
      issues.push({
        path: `${pathPrefix}.name`,
        message: `Unknown policy '${name}'; known policies: ${policyDefinitions.map((d) => d.name).join(', ')}`,
      });
    } else if (!def.attachTo.includes(at)) {
      const allowed = policyDefinitions.filter((d) => d.attachTo.includes(at)).map((d) => d.name);
      issues.push({ path: `${pathPrefix}.name`, message: `Policy '${def.name}' cannot be attached to ${attachmentPlaces[at]}; allowed there: ${allowed.join(', ')}` });
    }
  }
  if (version !== undefined && version !== null && typeof version !== 'string') {
    issues.push({ path: `${pathPrefix}.version`, message: 'Policy version must be a string such as v1' });
  } else if (typeof version === 'string' && version.trim() !== '') {
    const problem = versionIssue(typeof name === 'string' ? name : '', version.trim(), def);
    if (problem !== null) issues.push({ path: `${pathPrefix}.version`, message: problem });
  }
  if (executionCondition !== undefined && executionCondition !== null && typeof executionCondition !== 'string') {
    issues.push({ path: `${pathPrefix}.executionCondition`, message: 'Execution condition must be a string' });
  } else if (typeof executionCondition === 'string' && executionCondition !== '') {
    const problem = conditionProblem(executionCondition, def, at);
    if (problem !== null) issues.push({ path: `${pathPrefix}.executionCondition`, message: problem });
  }
  if (params !== undefined && params !== null && !isRecord(params)) {
    issues.push({ path: `${pathPrefix}.params`, message: 'Params must be an object' });
  } else if (def) {
    const result = def.paramsSchema.safeParse(params ?? {}, {
      error: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined),
    });
    if (!result.success) issues.push(...paramsIssues(result.error.issues, `${pathPrefix}.params`, def.name));
  }
  return issues;
}

/**
 * Why a condition cannot be served there, or null. Conditions are evaluated by the condition module for the modules
 * after it (docs/execution-conditions.md): only an API's or an operation's attachment of a kind with a module can
 * be conditional (a plan policy runs for the requests its plan admits; route configuration cannot vary per request).
 */
function conditionProblem(condition: string, def: PolicyDefinition | undefined, at: AttachmentPoint): string | null {
  if (at === 'plan') return 'Execution conditions are not supported on plan policies: a plan policy applies to every request its plan admits';
  if (def !== undefined && policyKindOf(def.name) === undefined) return `Policy '${def.name}' is route configuration and cannot have an execution condition`;
  const check = compileCondition(condition);
  return check.ok ? null : conditionMessage(check);
}

/** An attachment and where it sits (`spec.operations[0].policies[1]`). */
export interface PlacedAttachment {
  path: string;
  policy: { name: string; params?: Record<string, unknown> | null; executionCondition?: string | null };
}

/**
 * Attachments that apply together to one route (the API's then an operation's, or a plan's), stored params
 * (after `normalizePolicies`): refused when their kind cannot combine them on one route (its `merge`, the same
 * rule the translator folds with), naming the later attachment.
 */
export function attachmentChainIssues(chain: readonly PlacedAttachment[]): FieldIssue[] {
  const conditional = conditionalSharingIssues(chain);
  if (conditional.length > 0) return conditional;
  const conflict = attachmentConflict(chain.map((a) => a.policy));
  if (conflict === null) return [];
  const [index, message] = conflict;
  return [{ path: chain[index]!.path, message: `Cannot be combined with the policies before it: ${message}` }];
}

/**
 * A conditional attachment must be its kind's only one on the route: the translator folds a route's attachments of
 * a kind into one module entry, and one entry has one condition (docs/execution-conditions.md).
 */
function conditionalSharingIssues(chain: readonly PlacedAttachment[]): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const kinds = chain.map((a) => canonicalPolicyName(a.policy.name));
  chain.forEach((a, i) => {
    if (!a.policy.executionCondition || kinds[i] === undefined) return;
    const other = chain.findIndex((_, j) => j !== i && kinds[j] === kinds[i]);
    if (other === -1) return;
    issues.push({
      path: `${a.path}.executionCondition`,
      message: `A policy with an execution condition must be the only ${kinds[i]} policy on its routes; ${chain[other]!.path} is another`,
    });
  });
  return issues;
}

/**
 * What a read shows in place of a write-only param field. Sent back unchanged (or with the field left out), it keeps
 * the stored value: a client can round-trip what it read without knowing the secret, and never learns it.
 */
export const WRITE_ONLY_MARKER = '(write-only)';

/** Params as anyone may read them: every write-only field replaced by the marker. */
export function maskSecretParams(name: string, params: Record<string, unknown> | null): Record<string, unknown> | null {
  return mapWriteOnly(name, params, (item, field) => (item[field.field] === undefined ? item : { ...item, [field.field]: WRITE_ONLY_MARKER }));
}

/**
 * Params of a write with kept secrets filled in: an item of a write-only list that gives neither its secret nor a
 * clear replacement (basic-auth: no `password`, `passwordHash` absent or the marker) takes the stored value of the
 * item with the same identity in `previous` (the owner's attachments of the same kind before the write). An item
 * with nothing to keep is left as given, so validation reports it.
 */
export function restoreSecretParams(
  name: string,
  params: Record<string, unknown> | null | undefined,
  previous: readonly { name: string; params: Record<string, unknown> | null }[],
): Record<string, unknown> | null | undefined {
  if (params === null || params === undefined) return params;
  const kind = canonicalPolicyName(name);
  return mapWriteOnly(name, params, (item, field) => {
    const given = item[field.field];
    if ((given !== undefined && given !== WRITE_ONLY_MARKER) || item.password !== undefined) return item;
    for (const p of previous) {
      if (canonicalPolicyName(p.name) !== kind) continue;
      const list = p.params?.[field.list];
      const match = Array.isArray(list) ? (list as unknown[]).find((x) => isRecord(x) && x[field.identity] === item[field.identity]) : undefined;
      if (isRecord(match) && typeof match[field.field] === 'string') return { ...item, [field.field]: match[field.field] };
    }
    return item;
  }) as Record<string, unknown>;
}

function mapWriteOnly(
  name: string,
  params: Record<string, unknown> | null,
  map: (item: Record<string, unknown>, field: WriteOnlyField) => Record<string, unknown>,
): Record<string, unknown> | null {
  const fields = findPolicyDefinition(name)?.writeOnly ?? [];
  if (params === null || fields.length === 0) return params;
  let out = params;
  for (const field of fields) {
    const list = out[field.list];
    if (!Array.isArray(list)) continue;
    out = { ...out, [field.list]: list.map((item: unknown) => (isRecord(item) ? map(item, field) : item)) };
  }
  return out;
}
