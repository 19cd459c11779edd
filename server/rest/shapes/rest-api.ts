import type { Api, ApiInput, ApiSpecInput, PolicyAttachment, Upstream } from '../../domain/apis/index.ts';
import { resolvedContext } from '../../domain/apis/index.ts';
import { validateApiInput } from '../../domain/apis/index.ts';
import type { FieldIssue } from '../../domain/errors.ts';
import { ValidationError } from '../../domain/errors.ts';
import { isRecord } from '../../json/is-record.ts';
import { toRestTime } from './time.ts';

/** The only apiVersion and kind a v0.9 RestApi body may carry. */
export const restApiVersion = 'gateway.api-platform.wso2.com/v1alpha1';
export const restApiKind = 'RestApi';

export interface RestPolicyJson {
  name: string;
  version: string;
  executionCondition?: string;
  params?: Record<string, unknown>;
}

export interface RestUpstreamJson {
  url?: string;
  ref?: string;
  hostRewrite?: 'auto' | 'manual';
}

export interface RestApiJson {
  apiVersion: typeof restApiVersion;
  kind: typeof restApiKind;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    displayName: string;
    version: string;
    context: string;
    upstreamDefinitions?: {
      name: string;
      basePath?: string;
      timeout?: { connect: string };
      upstreams: { url: string; weight?: number }[];
    }[];
    upstream: { main: RestUpstreamJson; sandbox?: RestUpstreamJson };
    vhosts?: { main: string; sandbox?: string };
    subscriptionPlans?: string[];
    policies?: RestPolicyJson[];
    operations: { method: string; path: string; policies?: RestPolicyJson[] }[];
    /** Only when undeployed, so that GET then PUT keeps an undeployed API off traffic. */
    deploymentState?: 'undeployed';
  };
  status: { id: string; state: 'deployed' | 'undeployed'; createdAt: string; updatedAt: string; deployedAt?: string };
}

function toPolicy(p: PolicyAttachment): RestPolicyJson {
  const out: RestPolicyJson = { name: p.name, version: p.version };
  if (p.executionCondition !== null) out.executionCondition = p.executionCondition;
  if (p.params !== null) out.params = p.params;
  return out;
}

function toUpstream(u: Upstream): RestUpstreamJson {
  const out: RestUpstreamJson = {};
  if (u.url !== null) out.url = u.url;
  if (u.ref !== null) out.ref = u.ref;
  if (u.hostRewrite !== null) out.hostRewrite = u.hostRewrite;
  return out;
}

const isEmpty = (map: Record<string, string>) => Object.keys(map).length === 0;

/**
 * The v0.9 RestAPI resource: what was given, plus `status` (`id` = handle; `deployedAt` omitted while
 * undeployed). Empty optional lists and maps are left out, as a client that never sent them expects.
 * `substituteVersion`: lists show the context as routed (`/reading-list/v1.0`).
 */
export function toRestApi(api: Api, options: { substituteVersion?: boolean } = {}): RestApiJson {
  const metadata: RestApiJson['metadata'] = { name: api.handle };
  if (!isEmpty(api.labels)) metadata.labels = api.labels;
  if (!isEmpty(api.annotations)) metadata.annotations = api.annotations;
  const spec: RestApiJson['spec'] = {
    displayName: api.displayName,
    version: api.version,
    context: options.substituteVersion ? resolvedContext(api) : api.context,
    upstream: { main: toUpstream(api.upstream.main) },
    operations: [],
  };
  if (api.upstreamDefinitions.length > 0) {
    spec.upstreamDefinitions = api.upstreamDefinitions.map((d) => ({
      name: d.name,
      ...(d.basePath !== null ? { basePath: d.basePath } : {}),
      ...(d.connectTimeout !== null ? { timeout: { connect: d.connectTimeout } } : {}),
      upstreams: d.upstreams.map((t) => (t.weight === null ? { url: t.url } : { url: t.url, weight: t.weight })),
    }));
  }
  if (api.upstream.sandbox) spec.upstream.sandbox = toUpstream(api.upstream.sandbox);
  if (api.vhosts) spec.vhosts = api.vhosts.sandbox === null ? { main: api.vhosts.main } : { main: api.vhosts.main, sandbox: api.vhosts.sandbox };
  if (api.subscriptionPlans.length > 0) spec.subscriptionPlans = api.subscriptionPlans;
  if (api.policies.length > 0) spec.policies = api.policies.map(toPolicy);
  spec.operations = api.operations.map((op) =>
    op.policies.length > 0 ? { method: op.method, path: op.path, policies: op.policies.map(toPolicy) } : { method: op.method, path: op.path },
  );
  if (api.deploymentState === 'undeployed') spec.deploymentState = 'undeployed';
  const status: RestApiJson['status'] = {
    id: api.handle,
    state: api.deploymentState,
    createdAt: toRestTime(api.createdAt),
    updatedAt: toRestTime(api.updatedAt),
  };
  if (api.deploymentState === 'deployed' && api.deployedAt !== null) status.deployedAt = toRestTime(api.deployedAt);
  return { apiVersion: restApiVersion, kind: restApiKind, metadata, spec, status };
}

function envelopeIssues(body: Record<string, unknown>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (body.apiVersion !== restApiVersion) issues.push({ path: 'apiVersion', message: `apiVersion must be '${restApiVersion}'` });
  if (body.kind !== restApiKind) issues.push({ path: 'kind', message: `kind must be '${restApiKind}'` });
  return issues;
}

/**
 * The spec without the fields v0.9 does not have: an operation's `allowMethodOverride` is GraphQL's, and the
 * reference ignores unknown fields, so a REST body never opts a route in (docs/gateway.md "Request hygiene").
 */
function referenceSpec(spec: unknown): unknown {
  if (!isRecord(spec) || !Array.isArray(spec.operations)) return spec;
  const operations: unknown[] = spec.operations.map((op: unknown) => {
    if (!isRecord(op) || !('allowMethodOverride' in op)) return op;
    const { allowMethodOverride: _graphqlOnly, ...rest } = op;
    return rest;
  });
  return { ...spec, operations };
}

/**
 * A RestAPIRequest body as the domain's input. Only the envelope (`apiVersion`, `kind`) is REST's to check;
 * when it is wrong the domain's own problems are listed too, so one answer names everything. The rest is
 * validated by the domain (it takes arbitrary JSON), which is why the casts below are sound.
 */
export function fromRestApiBody(body: unknown): ApiInput {
  if (!isRecord(body)) throw new ValidationError([{ path: 'body', message: 'The request body must be a RestApi object' }]);
  const input = { metadata: body.metadata, spec: referenceSpec(body.spec) };
  const envelope = envelopeIssues(body);
  // PUT passes metadata on to the domain, which would read a non-object as "no metadata given".
  if (!isRecord(body.metadata)) envelope.push({ path: 'metadata', message: 'metadata is required' });
  if (envelope.length > 0) {
    const all = [...envelope, ...validateApiInput(input)];
    throw new ValidationError(all.filter((issue, i) => all.findIndex((o) => o.path === issue.path && o.message === issue.message) === i));
  }
  return { metadata: input.metadata as ApiInput['metadata'], spec: input.spec as ApiSpecInput };
}
