import { describe, expect, it } from 'vitest';
import { routeShape } from '../../../server/domain/route-claims.ts';
import { compileFullMatch, compileGlobal, re2Replace } from '../../../server/envoy/re2.ts';
import type { IrRewrite } from '../../../server/xds/ir.ts';
import { pathMatch, pathRewrite, policyPathGuard, policyPathRewrite, withQuery } from '../../../server/xds/translate/paths.ts';

/** What Envoy does with a route's rewrite on a path without query (prefix_rewrite on a regex route: the whole path). */
function rewritten(rewrite: IrRewrite, path: string): string {
  if (rewrite === null) return path;
  if (rewrite.kind === 'prefix') return rewrite.prefix;
  return re2Replace(path, compileGlobal(rewrite.pattern), rewrite.substitution);
}

/** The upstream path of `path` for operation `op` of an API at context `ctx` on an upstream at `base`, or null when the route does not match. */
function upstreamPath(ctx: string, op: string, base: string, path: string): string | null {
  if (!compileFullMatch(pathMatch(ctx, op).regex).test(path)) return null;
  return rewritten(pathRewrite(ctx, op, base), path);
}

describe('paths: operation match and upstream path (the reference gateway routing)', () => {
  it.each([
    // [context, operation, base, request path, upstream path or null]
    ['/c/v1.0', '/books', '/base', '/c/v1.0/books', '/base/books'],
    ['/c/v1.0', '/books', '/base', '/c/v1.0/books/', '/base/books/'],
    ['/c/v1.0', '/books', '/base', '/c/v1.0/bookshelf', null],
    ['/c/v1.0', '/books/{id}', '', '/c/v1.0/books/42', '/books/42'],
    ['/c/v1.0', '/books/{id}', '', '/c/v1.0/books/42/', null],
    ['/c/v1.0', '/*', '/base', '/c/v1.0', '/base'],
    ['/c/v1.0', '/*', '/base', '/c/v1.0/data/x', '/base/data/x'],
    ['/c/v1.0', '/*', '/base', '/c/v1.0beta/data', null],
    ['/c/v1.0', '/*', '', '/c/v1.0', '/'],
    ['/c/v1.0', '/*', '', '/c/v1.0/', '/'],
    ['/c/v1.0', '/*', '', '/c/v1.0/a', '/a'],
    ['/c/v1.0', '/files/*', '', '/c/v1.0/files', '/files'],
    ['/c/v1.0', '/files/*', '', '/c/v1.0/filesx', null],
    ['/c/v1.0', '/{id}/*', '', '/c/v1.0/7/x', '/7/x'],
    ['/c/v1.0', '/', '/base', '/c/v1.0', '/base/'],
    ['/c/v1.0', '/', '/base', '/c/v1.0/', '/base/'],
    ['/c/v1.0', '/', '', '/c/v1.0', '/'],
    ['/', '/', '', '/', '/'],
    ['/', '/books', '/api', '/books/', '/api/books/'],
    ['/c', '/books', '/c', '/c/books', '/c/books'],
  ])('%s + %s on %s: %s -> %s', (ctx, op, base, path, expected) => {
    expect(upstreamPath(ctx, op, base, path)).toBe(expected);
  });

  it('claims the same shape for a root operation and the literal operation naming its context', () => {
    expect(routeShape('/x/a', '/')).toBe(routeShape('/x', '/a'));
    expect(routeShape('/x', '/a/*')).toBe('/x/a/*');
    expect(routeShape('/x', '/a/{id}')).toBe(routeShape('/x', '/a/{other}'));
    expect(routeShape('/x', '/a/*')).not.toBe(routeShape('/x', '/a'));
  });
});

describe('paths: request-rewrite pathRewrite', () => {
  const ctx = '/c/v1.0';

  it.each([
    ['/api/v1', { type: 'ReplacePrefixMatch', replacement: '/api/v2' }, '/c/v1.0/api/v1/', '/b/api/v2/'],
    ['/legacy/*', { type: 'ReplacePrefixMatch', replacement: '/new' }, '/c/v1.0/legacy/a/b', '/b/new/a/b'],
    ['/items/{id}', { type: 'ReplacePrefixMatch', replacement: '/things' }, '/c/v1.0/items/7', '/b/things'],
    ['/', { type: 'ReplacePrefixMatch', replacement: '/home' }, '/c/v1.0/', '/b/home'],
    ['/x', { type: 'ReplaceFullPath', path: '/fixed' }, '/c/v1.0/x/', '/b/fixed'],
    ['/s/*', { type: 'ReplaceRegexMatch', pattern: '^/s/([^/]+)(/.*)$', substitution: '\\2/i/\\1' }, '/c/v1.0/s/foo/v1/api', '/b/v1/api/i/foo'],
  ] as const)('%s with %j: %s -> %s', (op, rewrite, path, expected) => {
    expect(compileFullMatch(pathMatch(ctx, op).regex).test(path)).toBe(true);
    expect(rewritten(policyPathRewrite(rewrite, ctx, op, '/b'), path)).toBe(expected);
  });

  it('guards a ReplaceRegexMatch route with its pattern, and checks the operation on :path with any query', () => {
    const rewrite = { type: 'ReplaceRegexMatch', pattern: '^/s/([^/]+)(/.*)$', substitution: '' } as const;
    const guard = compileFullMatch(policyPathGuard(rewrite, ctx)!);
    expect(guard.test('/c/v1.0/s/foo/bar')).toBe(true);
    expect(guard.test('/c/v1.0/s/foo')).toBe(false);
    expect(policyPathGuard({ type: 'ReplaceFullPath', path: '/x' }, ctx)).toBeNull();
    const onPath = (op: string) => compileFullMatch(withQuery(pathMatch(ctx, op).regex));
    expect(onPath('/s/*').test('/c/v1.0/s/foo?x=/y')).toBe(true);
    expect(onPath('/s/*').test('/c/v1.0/sx')).toBe(false);
    expect(onPath('/items/{id}').test('/c/v1.0/items/7?a=1')).toBe(true);
    expect(onPath('/{a}/x').test('/c/v1.0/p?q/x')).toBe(false);
    expect(onPath('/books').test('/c/v1.0/books/?q')).toBe(true);
  });
});
