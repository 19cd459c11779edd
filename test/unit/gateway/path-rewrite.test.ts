import { describe, expect, it } from 'vitest';
import { compilePathRewrite, rewritePath } from '../../../server/gateway/path-rewrite.ts';

describe('path rewrite', () => {
  it('swaps the matched prefix and keeps the rest and the query', () => {
    const rewriter = compilePathRewrite({ prefixRewrite: '/v1' }, 'route');
    expect(rewriter).not.toBeNull();
    if (rewriter === null) return;
    expect(rewritePath('/api/books?x=1', rewriter, 4)).toBe('/v1/books?x=1');
  });

  it('swaps the whole path for a path or regex match', () => {
    const rewriter = compilePathRewrite({ prefixRewrite: '/upstream' }, 'route');
    if (rewriter === null) throw new Error('no rewriter');
    expect(rewritePath('/books/42?a=b', rewriter, '/books/42'.length)).toBe('/upstream?a=b');
  });

  it('applies regex_rewrite to the path without the query', () => {
    const rewriter = compilePathRewrite({ regexRewrite: { pattern: { regex: '^/reading-list/v1(/.*)?$' }, substitution: '/api\\1' } }, 'route');
    if (rewriter === null) throw new Error('no rewriter');
    expect(rewritePath('/reading-list/v1/books/1?v=1', rewriter, 0)).toBe('/api/books/1?v=1');
  });

  it('has no rewriter when neither rewrite is set, and refuses both at once', () => {
    expect(compilePathRewrite({}, 'route')).toBeNull();
    expect(() => compilePathRewrite({ prefixRewrite: '/', regexRewrite: { pattern: { regex: 'a' }, substitution: 'b' } }, 'route')).toThrow(/only one/);
  });
});
