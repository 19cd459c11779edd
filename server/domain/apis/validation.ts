import type { FieldIssue } from '../errors.ts';
import { durationPattern, parseDurationMs } from '../durations.ts';
import { attachmentChainIssues, validatePolicyAttachment } from '../policy-registry.ts';

type PolicyLike = { name: string; params?: Record<string, unknown> | null; executionCondition?: string | null };
import { isRecord } from '../../json/is-record.ts';
import { claimVhosts, routeTemplate } from '../route-claims.ts';
import { accessModes } from '../reachability.ts';
import { upstreamResilienceIssues } from './upstream-resilience.ts';

/** `/books/{id}` and `/books/{bookId}` are the same route (route-claims.ts). */
export { routeTemplate };

/**
 * The v0.9 RestApi rules (issue 3, "Validation"), checked all at once so a client sees every problem in one
 * answer. Input arrives as arbitrary JSON from REST, so nothing here trusts a type; paths are v0.9's
 * (`metadata.name`, `spec.upstream.main.url`, `spec.operations[2].path`, `spec.policies[0].params.key`).
 */

export const httpMethods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const;
export type HttpMethod = (typeof httpMethods)[number];

const displayNamePattern = /^[A-Za-z0-9 ._-]{1,100}$/;
const versionPattern = /^v?\d+(\.\d+)?(\.\d+)?$/;
const definitionNamePattern = /^[a-zA-Z0-9\-_]+$/;
const hostPattern = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/i;
const maxContextLength = 200;
const maxHandleLength = 253;


function isPresent(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/** http or https with a host. */
export function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname.length > 0;
  } catch {
    return false;
  }
}

/** `/books/{id}`: starts with `/`, every `{` closed by a `}` around a non-empty name, no nesting. */
export function isValidOperationPath(path: string): boolean {
  if (!path.startsWith('/') || /\s/.test(path)) return false;
  let open = false;
  let nameLength = 0;
  for (const ch of path) {
    if (ch === '{') {
      if (open) return false;
      open = true;
      nameLength = 0;
    } else if (ch === '}') {
      if (!open || nameLength === 0) return false;
      open = false;
    } else if (open) {
      if (ch === '/') return false;
      nameLength++;
    }
  }
  return !open;
}

function checkHandle(metadata: unknown, issues: FieldIssue[]): void {
  if (!isRecord(metadata)) {
    issues.push({ path: 'metadata', message: 'metadata is required' });
    return;
  }
  const { name, labels, annotations } = metadata;
  if (typeof name !== 'string' || name.length === 0) {
    issues.push({ path: 'metadata.name', message: 'metadata.name is required' });
  } else if (/[\s/]/.test(name)) {
    issues.push({ path: 'metadata.name', message: "metadata.name must not contain whitespace or '/'" });
  } else if (name.length > maxHandleLength) {
    issues.push({ path: 'metadata.name', message: `metadata.name must be at most ${maxHandleLength} characters` });
  }
  checkStringMap(labels, 'metadata.labels', true, issues);
  checkStringMap(annotations, 'metadata.annotations', false, issues);
}

function checkStringMap(value: unknown, path: string, isLabel: boolean, issues: FieldIssue[]): void {
  if (!isPresent(value)) return;
  if (!isRecord(value)) {
    issues.push({ path, message: `${isLabel ? 'Labels' : 'Annotations'} must be an object of strings` });
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    if (isLabel && (key.length === 0 || /\s/.test(key))) {
      issues.push({ path, message: `Label key '${key}' must be non-empty and must not contain whitespace` });
    }
    if (typeof v !== 'string') issues.push({ path: `${path}.${key}`, message: 'Value must be a string' });
  }
}

function checkContext(context: unknown, issues: FieldIssue[]): void {
  const path = 'spec.context';
  if (typeof context !== 'string' || context.length === 0) {
    issues.push({ path, message: 'Context is required' });
    return;
  }
  if (!context.startsWith('/') || (context.length > 1 && context.endsWith('/'))) {
    issues.push({ path, message: 'Context must start with / and cannot end with /' });
  }
  if (context.length > maxContextLength) {
    issues.push({ path, message: `Context must be at most ${maxContextLength} characters` });
  }
  if (/\s/.test(context)) issues.push({ path, message: 'Context must not contain whitespace' });
  if (context.replaceAll('$version', '').includes('$')) {
    issues.push({ path, message: 'Context may contain no placeholder other than $version' });
  }
}

function checkUpstream(value: unknown, path: string, definitionNames: ReadonlySet<string>, issues: FieldIssue[]): void {
  if (!isRecord(value)) {
    issues.push({ path, message: 'Upstream must be an object with url or ref' });
    return;
  }
  const { url, ref, hostRewrite } = value;
  const hasUrl = isPresent(url) && url !== '';
  const hasRef = isPresent(ref) && ref !== '';
  if (hasUrl === hasRef) {
    issues.push({ path, message: 'Exactly one of url or ref must be set' });
  } else if (hasUrl && !isHttpUrl(url)) {
    issues.push({ path: `${path}.url`, message: 'Upstream URL must be an http or https URL with a host' });
  } else if (hasRef && (typeof ref !== 'string' || !definitionNames.has(ref))) {
    issues.push({ path: `${path}.ref`, message: `Upstream ref '${String(ref)}' does not name an upstreamDefinition` });
  }
  if (isPresent(hostRewrite) && hostRewrite !== 'auto' && hostRewrite !== 'manual') {
    issues.push({ path: `${path}.hostRewrite`, message: 'hostRewrite must be auto or manual' });
  }
}

/** Returns the names of the well-formed definitions, for upstream refs. */
function checkUpstreamDefinitions(value: unknown, issues: FieldIssue[]): Set<string> {
  const names = new Set<string>();
  if (!isPresent(value)) return names;
  if (!Array.isArray(value)) {
    issues.push({ path: 'spec.upstreamDefinitions', message: 'upstreamDefinitions must be a list' });
    return names;
  }
  value.forEach((def: unknown, i) => {
    const path = `spec.upstreamDefinitions[${i}]`;
    if (!isRecord(def)) {
      issues.push({ path, message: 'Upstream definition must be an object' });
      return;
    }
    const { name, basePath, timeout, upstreams } = def;
    if (typeof name !== 'string' || !definitionNamePattern.test(name)) {
      issues.push({ path: `${path}.name`, message: 'Name must be letters, digits, - or _' });
    } else if (names.has(name)) {
      issues.push({ path: `${path}.name`, message: `Duplicate upstream definition name '${name}'` });
    } else {
      names.add(name);
    }
    if (isPresent(basePath) && (typeof basePath !== 'string' || !basePath.startsWith('/'))) {
      issues.push({ path: `${path}.basePath`, message: 'basePath must start with /' });
    }
    if (isPresent(timeout)) {
      if (!isRecord(timeout)) issues.push({ path: `${path}.timeout`, message: 'timeout must be an object' });
      else if (isPresent(timeout.connect) && (typeof timeout.connect !== 'string' || !durationPattern.test(timeout.connect))) {
        issues.push({ path: `${path}.timeout.connect`, message: 'Connect timeout must be a duration such as 5s or 500ms' });
      } else if (typeof timeout.connect === 'string' && Math.round(parseDurationMs(timeout.connect) ?? 0) < 1) {
        // Envoy requires connect_timeout > 0; configurations carry whole ms (rounded).
        issues.push({ path: `${path}.timeout.connect`, message: 'Connect timeout must be at least 1ms' });
      }
    }
    if (!Array.isArray(upstreams) || upstreams.length === 0) {
      issues.push({ path: `${path}.upstreams`, message: 'At least one upstream is required' });
      return;
    }
    // A weight of 0 takes no traffic (the target gets no cluster): at least one target must take some.
    if (upstreams.every((t: unknown) => isRecord(t) && t.weight === 0)) issues.push({ path: `${path}.upstreams`, message: 'At least one upstream must have a weight above 0' });
    upstreams.forEach((target: unknown, j) => {
      const targetPath = `${path}.upstreams[${j}]`;
      if (!isRecord(target)) {
        issues.push({ path: targetPath, message: 'Upstream must be an object with url' });
        return;
      }
      if (!isHttpUrl(target.url)) {
        issues.push({ path: `${targetPath}.url`, message: 'Upstream URL must be an http or https URL with a host' });
      }
      const { weight } = target;
      if (isPresent(weight) && (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 100)) {
        issues.push({ path: `${targetPath}.weight`, message: 'Weight must be an integer from 0 to 100' });
      }
    });
  });
  return names;
}

function checkVhosts(value: unknown, issues: FieldIssue[]): void {
  if (!isPresent(value)) return;
  if (!isRecord(value)) {
    issues.push({ path: 'spec.vhosts', message: 'vhosts must be an object' });
    return;
  }
  const { main, sandbox } = value;
  if (typeof main !== 'string' || !hostPattern.test(main)) {
    issues.push({ path: 'spec.vhosts.main', message: 'Main vhost must be a host name' });
  }
  if (isPresent(sandbox) && (typeof sandbox !== 'string' || !hostPattern.test(sandbox))) {
    issues.push({ path: 'spec.vhosts.sandbox', message: 'Sandbox vhost must be a host name' });
  }
}

/** A sandbox upstream is served on its own virtual host (route-claims.ts): one equal to the main one would clash. */
function checkSandboxVhost(spec: Record<string, unknown>, issues: FieldIssue[]): void {
  if (!isRecord(spec.upstream) || !isPresent(spec.upstream.sandbox)) return;
  const vhosts = isRecord(spec.vhosts) ? spec.vhosts : {};
  const named = (v: unknown) => (typeof v === 'string' ? v : null);
  const { main, sandbox } = claimVhosts({ vhostMain: named(vhosts.main), vhostSandbox: named(vhosts.sandbox), hasSandbox: true });
  if (main === sandbox) issues.push({ path: 'spec.vhosts.sandbox', message: `The sandbox upstream needs a virtual host other than the main one ('${main}')` });
}

function checkPolicies(value: unknown, path: string, at: 'api' | 'operation', issues: FieldIssue[]): void {
  if (!isPresent(value)) return;
  if (!Array.isArray(value)) {
    issues.push({ path, message: 'Policies must be a list' });
    return;
  }
  value.forEach((policy: unknown, i) => {
    if (!isRecord(policy)) issues.push({ path: `${path}[${i}]`, message: 'Policy must be an object' });
    else issues.push(...validatePolicyAttachment(policy as { name: unknown; version: unknown }, `${path}[${i}]`, at));
  });
}

function checkOperations(value: unknown, issues: FieldIssue[]): void {
  if (!Array.isArray(value) || value.length === 0) {
    issues.push({ path: 'spec.operations', message: 'At least one operation is required' });
    return;
  }
  const seen = new Set<string>();
  value.forEach((op: unknown, i) => {
    const path = `spec.operations[${i}]`;
    if (!isRecord(op)) {
      issues.push({ path, message: 'Operation must be an object with method and path' });
      return;
    }
    const { method, path: opPath, policies, allowMethodOverride } = op;
    if (allowMethodOverride != null && typeof allowMethodOverride !== 'boolean') {
      issues.push({ path: `${path}.allowMethodOverride`, message: 'allowMethodOverride must be true or false' });
    }
    const methodOk = typeof method === 'string' && (httpMethods as readonly string[]).includes(method);
    if (!methodOk) {
      issues.push({ path: `${path}.method`, message: `Method must be one of ${httpMethods.join(', ')}` });
    }
    if (typeof opPath !== 'string' || !isValidOperationPath(opPath)) {
      issues.push({ path: `${path}.path`, message: 'Path must start with / and have balanced {} around parameter names' });
    } else if (methodOk) {
      const route = `${String(method)} ${routeTemplate(opPath)}`;
      if (seen.has(route)) issues.push({ path: `${path}.path`, message: `Duplicate operation ${String(method)} ${opPath}` });
      seen.add(route);
    }
    checkPolicies(policies, `${path}.policies`, 'operation', issues);
  });
}

function checkSubscriptionPlans(value: unknown, issues: FieldIssue[]): void {
  if (!isPresent(value)) return;
  if (!Array.isArray(value)) {
    issues.push({ path: 'spec.subscriptionPlans', message: 'subscriptionPlans must be a list of plan names' });
    return;
  }
  const seen = new Set<string>();
  value.forEach((name: unknown, i) => {
    if (typeof name !== 'string' || name.trim().length === 0) {
      issues.push({ path: `spec.subscriptionPlans[${i}]`, message: 'Plan name must be a non-empty string' });
    } else if (seen.has(name)) {
      issues.push({ path: `spec.subscriptionPlans[${i}]`, message: `Duplicate plan name '${name}'` });
    } else {
      seen.add(name);
    }
  });
}

/** Every problem of a RestApi (metadata + spec) and our own `visibility`, `accessMode` and `upstreamResilience`; empty when it is valid. */
export function validateApiInput(input: unknown): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (!isRecord(input)) return [{ path: '', message: 'API must be an object with metadata and spec' }];
  checkHandle(input.metadata, issues);
  const { visibility, accessMode, spec } = input;
  if (isPresent(visibility) && visibility !== 'public' && visibility !== 'private') {
    issues.push({ path: 'visibility', message: 'Visibility must be public or private' });
  }
  if (isPresent(accessMode) && !(accessModes as readonly unknown[]).includes(accessMode)) {
    issues.push({ path: 'accessMode', message: `accessMode must be one of ${accessModes.join(', ')}` });
  }
  issues.push(...upstreamResilienceIssues(input.upstreamResilience, 'upstreamResilience'));
  if (!isRecord(spec)) {
    issues.push({ path: 'spec', message: 'spec is required' });
    return issues;
  }
  if (typeof spec.displayName !== 'string' || !displayNamePattern.test(spec.displayName)) {
    issues.push({
      path: 'spec.displayName',
      message: 'Display name must be 1-100 letters, digits, spaces, hyphens, underscores or dots',
    });
  }
  if (typeof spec.version !== 'string' || !versionPattern.test(spec.version)) {
    issues.push({ path: 'spec.version', message: 'Version must look like v1, v1.0 or 1.0.0' });
  }
  checkContext(spec.context, issues);
  const definitionNames = checkUpstreamDefinitions(spec.upstreamDefinitions, issues);
  if (!isRecord(spec.upstream)) {
    issues.push({ path: 'spec.upstream.main', message: 'Main upstream is required' });
  } else {
    if (!isPresent(spec.upstream.main)) issues.push({ path: 'spec.upstream.main', message: 'Main upstream is required' });
    else checkUpstream(spec.upstream.main, 'spec.upstream.main', definitionNames, issues);
    if (isPresent(spec.upstream.sandbox)) checkUpstream(spec.upstream.sandbox, 'spec.upstream.sandbox', definitionNames, issues);
  }
  checkVhosts(spec.vhosts, issues);
  checkSandboxVhost(spec, issues);
  checkPolicies(spec.policies, 'spec.policies', 'api', issues);
  checkOperations(spec.operations, issues);
  checkSubscriptionPlans(spec.subscriptionPlans, issues);
  const state = spec.deploymentState;
  if (isPresent(state) && state !== 'deployed' && state !== 'undeployed') {
    issues.push({ path: 'spec.deploymentState', message: 'deploymentState must be deployed or undeployed' });
  }
  return issues;
}

/**
 * Policies that cannot be served together on a route (stored params, after normalization): the API's own, then
 * each operation's chain (the API's policies followed by the operation's).
 */
export function policyChainIssues(spec: { policies?: readonly PolicyLike[] | null; operations: readonly { policies?: readonly PolicyLike[] | null }[] }): FieldIssue[] {
  const place = (list: readonly PolicyLike[] | null | undefined, path: string) => (list ?? []).map((policy, i) => ({ path: `${path}[${i}]`, policy }));
  const api = place(spec.policies, 'spec.policies');
  const own = attachmentChainIssues(api);
  if (own.length > 0) return own;
  const issues = spec.operations.flatMap((op, i) => attachmentChainIssues([...api, ...place(op.policies, `spec.operations[${i}].policies`)]));
  // An API policy that cannot share a route is reported once, not once per operation.
  return issues.filter((issue, i) => issues.findIndex((other) => other.path === issue.path && other.message === issue.message) === i);
}
