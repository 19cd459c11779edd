/**
 * Route claims, computed once for the domain (which refuses a deploy that would clash, apis/routes.ts) and the
 * translator (which leaves out an API whose routes another already serves, xds/translate/build-ir.ts): both
 * must agree on what an API serves, or the domain accepts what the gateway then drops.
 *
 * A deployed API claims `vhost + method + path` for each operation on each virtual host it is served on: its
 * main vhost (`*` when it names none) and, when it has a sandbox upstream, its sandbox vhost (`sandbox-*` when it
 * names none). Two claims clash when they match the very same requests (docs/xds.md, "Route matching"): path
 * parameters are compared by position only (`/books/{id}` = `/books/{bookId}`), a root operation `/` claims its
 * context (`/shop` + `/` = `/` + `/shop`: both match `/shop` and `/shop/`), and a `/*` operation claims its prefix
 * (`/shop/*`). Routes that merely overlap (`/shop/*` and `/shop/books`, `/shop/*` and `/shop/v1/*`) do not clash:
 * the more specific one is matched first (literal, then template, then prefix; longer first), on one API as
 * across APIs. Pure: no database, no xds imports.
 */

/** The virtual host of an API that names none. */
export const defaultVhost = '*';
/** The virtual host of a sandbox upstream when spec.vhosts names none (issue 5). */
export const defaultSandboxVhost = 'sandbox-*';

export interface ClaimantShape {
  context: string;
  version: string;
  vhostMain: string | null;
  vhostSandbox: string | null;
  /** Whether the API has a sandbox upstream: only then is it served on a sandbox vhost. */
  hasSandbox: boolean;
  operations: readonly { method: string; path: string }[];
}

export interface RouteClaim {
  /** Lowercased virtual host domain. */
  vhost: string;
  method: string;
  /** The resolved path with parameters reduced to `{}` (a root operation: its context; a wildcard: `<prefix>/*`): what two claims compare. */
  pathKey: string;
  /** The resolved path as written, for messages (`/shop/v1/books/{id}`). */
  path: string;
  /** The operation's own path (`/books/{id}`). */
  operationPath: string;
  /** vhost, method and pathKey in one string: equal keys clash. */
  key: string;
}

/** `context` with `$version` substituted, as routed. */
export function resolveContext(context: string, version: string): string {
  return context.replaceAll('$version', version);
}

/** context + operation path, the path a route matches (a `/` context adds nothing). */
export function routePath(resolvedContext: string, operationPath: string): string {
  return resolvedContext === '/' ? operationPath : `${resolvedContext}${operationPath}`;
}

/** `/books/{id}` -> `/books/{}`: parameters compared by position only. */
export function routeTemplate(path: string): string {
  return path.replace(/\{[^}]*\}/g, '{}');
}

/**
 * What an operation's route matches, as one comparable string: the template of its path, except that a root
 * operation `/` matches its context with or without a trailing slash (the same requests as a literal operation
 * naming the context) and a `/*` operation its prefix.
 */
export function routeShape(resolvedContext: string, operationPath: string): string {
  const ctx = resolvedContext === '/' ? '' : resolvedContext;
  if (operationPath === '/') return ctx === '' ? '/' : routeTemplate(ctx);
  if (operationPath.endsWith('/*')) return `${routeTemplate(`${ctx}${operationPath.slice(0, -2)}`)}/*`;
  return routeTemplate(`${ctx}${operationPath}`);
}

/** The virtual hosts an API is served on, lowercased: main first, then the sandbox one if it has a sandbox upstream. */
export function claimVhosts(api: Pick<ClaimantShape, 'vhostMain' | 'vhostSandbox' | 'hasSandbox'>): { main: string; sandbox: string | null } {
  return {
    main: (api.vhostMain ?? defaultVhost).toLowerCase(),
    sandbox: api.hasSandbox ? (api.vhostSandbox ?? defaultSandboxVhost).toLowerCase() : null,
  };
}

/** What two routes must not share: the same request on the same host would reach only the first. */
export function claimKey(vhost: string, method: string, pathKey: string): string {
  return `${vhost} ${method} ${pathKey}`;
}

/** Every route an API claims, operation by operation, main vhost before sandbox vhost (as the translator builds them). */
export function routeClaims(api: ClaimantShape): RouteClaim[] {
  const resolved = resolveContext(api.context, api.version);
  const { main, sandbox } = claimVhosts(api);
  // A sandbox vhost equal to the main one is kept: the API then claims each route twice, which the translator
  // reports (besides the spec.vhosts.sandbox error).
  const hosts = sandbox === null ? [main] : [main, sandbox];
  const out: RouteClaim[] = [];
  for (const op of api.operations) {
    const path = routePath(resolved, op.path);
    const pathKey = routeShape(resolved, op.path);
    for (const vhost of hosts) out.push({ vhost, method: op.method, pathKey, path, operationPath: op.path, key: claimKey(vhost, op.method, pathKey) });
  }
  return out;
}
