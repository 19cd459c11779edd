import type { DeployedAuthorizationServer } from '../../../domain/deployment-model.ts';
import type { FieldIssue } from '../../../domain/errors.ts';
import { policyKindOf } from '../../../policies/index.ts';
import { authorizationServerClusterName, oauth2ClientTableName, oauth2PlanConfig, oauth2SettingsFromPlan } from '../../../policies/oauth2.ts';
import type { IrCluster, IrTables, OAuth2ServerConfig } from '../../ir.ts';
import { parseUpstreamUrl } from '../../upstream-url.ts';
import { clientTable, type TablesStep } from './step.ts';

/**
 * The clusters of the authorization servers (one per server; the endpoint from its introspection URL, TLS for
 * https, the connect timeout bounded by the server's introspection timeout), and the problems of servers whose URL
 * cannot be one (the domain validates URLs, so only a hand-edited database gets there).
 */
export function authorizationServerClusters(servers: readonly DeployedAuthorizationServer[]): { clusters: IrCluster[]; problems: FieldIssue[] } {
  const clusters: IrCluster[] = [];
  const problems: FieldIssue[] = [];
  for (const server of servers) {
    const parsed = parseUpstreamUrl(server.introspectionUrl);
    if (typeof parsed === 'string') {
      problems.push({ path: `authorizationServers[${server.id}].introspectionUrl`, message: parsed });
      continue;
    }
    clusters.push({
      name: authorizationServerClusterName(server.id),
      endpoint: parsed.endpoint,
      tls: parsed.tls,
      connectTimeoutMs: Math.min(server.timeoutMs, 5000),
    });
  }
  clusters.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { clusters, problems };
}

/** The module's `servers` table from the model's authorization servers (only those with a usable URL). */
export function oauth2ServersTable(servers: readonly DeployedAuthorizationServer[]): Record<string, OAuth2ServerConfig> {
  const out: Record<string, OAuth2ServerConfig> = {};
  for (const server of [...servers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    let url: URL;
    try {
      url = new URL(server.introspectionUrl);
    } catch {
      continue;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    out[server.id] = {
      cluster: authorizationServerClusterName(server.id),
      authority: url.host,
      path: `${url.pathname}${url.search}`,
      clientId: server.clientId,
      clientSecret: server.clientSecret,
      tokenTypeHint: server.tokenTypeHint,
      timeoutMs: server.timeoutMs,
      maxCacheSeconds: server.maxCacheSeconds,
    };
  }
  return out;
}


/**
 * oauth2: the OAUTH2 plans' authorization servers (and those oauth2 attachments name) with their clusters, the
 * plans' rules and scopes, one client table.
 */
export const oauth2Tables: TablesStep = {
  kind: 'oauth2',
  tables(input, draft) {
    const { index, planPath, error } = input;
    const { tables, ctx } = draft;
    const oauth2Plans = input.ofType('OAUTH2');
    const serverIds = new Set<string>();
    for (const plan of oauth2Plans) {
      const id = plan.security.oauth2?.authorizationServerId;
      if (id === undefined || !index.authorizationServers.has(id)) {
        error(`${planPath(plan)}.security.oauth2`, `OAuth2 plan '${plan.name}' has no deployed authorization server${id === undefined ? '' : ` ('${id}')`}`);
      } else serverIds.add(id);
      tables.oauth2Plans[plan.id] = oauth2PlanConfig(plan);
    }
    for (const p of input.attached) {
      const id = p.params?.authorizationServerId;
      if (policyKindOf(p.name) === 'oauth2' && typeof id === 'string' && index.authorizationServers.has(id)) serverIds.add(id);
    }
    const servers = [...serverIds].sort().map((id) => index.authorizationServers.get(id)!);
    const serverClusters = authorizationServerClusters(servers);
    for (const issue of serverClusters.problems) error(issue.path, issue.message);
    Object.assign(tables.oauth2Servers, oauth2ServersTable(servers));
    draft.clusters.push(...serverClusters.clusters);
    if (oauth2Plans.length > 0) {
      ctx.oauth2Clients = oauth2ClientTableName(input.api.handle);
      tables.oauth2Clients[ctx.oauth2Clients] = clientTable(oauth2Plans, input.subscriptions) as IrTables['oauth2Clients'][string];
    }
    ctx.oauth2Plans = oauth2Plans.map((p) => p.id);
  },
  implied(input, { ctx }) {
    const oauth2Plans = input.ofType('OAUTH2');
    if (oauth2Plans.length === 0 || !input.served('oauth2', input.planPath(oauth2Plans[0]!))) return null;
    // Plans naming different authorization servers share the route: it lists all their servers (docs/policies.md#oauth2).
    const implied = oauth2SettingsFromPlan(oauth2Plans, ctx.oauth2Clients, input.optional);
    for (const issue of implied.issues) input.error(`${input.planPath(oauth2Plans[0]!)}.${issue.path}`, issue.message);
    return { kind: 'oauth2', source: 'plan', settings: implied.settings };
  },
};
