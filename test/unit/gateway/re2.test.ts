import { describe, expect, it } from 'vitest';
import { compileFullMatch, compileGlobal, literalPrefixOf, re2Replace, RegexError } from '../../../server/envoy/re2.ts';

describe('re2', () => {
  it('anchors a safe_regex to the whole input', () => {
    const regex = compileFullMatch('/books/[^/]+');
    expect(regex.test('/books/1')).toBe(true);
    expect(regex.test('/books/1/x')).toBe(false);
    expect(regex.test('/v2/books/1')).toBe(false);
  });

  it('keeps alternation inside the anchors', () => {
    const regex = compileFullMatch('/a|/b');
    expect(regex.test('/a')).toBe(true);
    expect(regex.test('/ab')).toBe(false);
  });

  it('translates RE2 spellings JavaScript lacks', () => {
    expect(compileFullMatch('(?P<id>[[:digit:]]+)').exec('42')?.groups?.id).toBe('42');
    expect(compileFullMatch('\\Q/a.b\\E').test('/a.b')).toBe(true);
    expect(compileFullMatch('\\Q/a.b\\E').test('/axb')).toBe(false);
    expect(compileFullMatch('(?i)/books').test('/BOOKS')).toBe(true);
    expect(compileFullMatch('\\A/x\\z').test('/x')).toBe(true);
  });

  it('refuses what RE2 refuses: lookaround and backreferences', () => {
    expect(() => compileFullMatch('/a(?=b)')).toThrow(RegexError);
    expect(() => compileFullMatch('/a(?<!b)')).toThrow(RegexError);
    expect(() => compileFullMatch('(a)\\1')).toThrow(RegexError);
  });

  it('substitutes RE2 group references on every match', () => {
    expect(re2Replace('/api/v1/a/v1', compileGlobal('v(\\d)'), 'version-\\1')).toBe('/api/version-1/a/version-1');
    expect(re2Replace('/books/42', compileGlobal('^/books/(?P<id>\\d+)$'), '/v2/book/\\1')).toBe('/v2/book/42');
  });
});

describe('literalPrefixOf', () => {
  it('gives the literal start of every full match, conservatively', () => {
    expect(literalPrefixOf('^/weather/v1\\.0/forecast/?$')).toBe('/weather/v1.0/forecast');
    expect(literalPrefixOf('^/shop/v1(?:/.*)?$')).toBe('/shop/v1');
    expect(literalPrefixOf('^/items/[^/]+$')).toBe('/items/');
    expect(literalPrefixOf('/books/?')).toBe('/books');
    expect(literalPrefixOf('^/a+b')).toBe('/');
    expect(literalPrefixOf('^/x{2}')).toBe('/');
    expect(literalPrefixOf('^/a\\d+')).toBe('/a');
    expect(literalPrefixOf('^/a|/b')).toBe('');
    expect(literalPrefixOf('(?i)^/books')).toBe('');
    expect(literalPrefixOf('^\\Q/a.b\\E')).toBe('');
  });

  it('never rejects a path the regex matches', () => {
    const patterns = ['^/weather/v1\\.0/forecast/?$', '^/shop/v1(?:/.*)?$', '^/items/[^/]+$', '^/a+b$', '^/x{2}$', '^/a\\d+$', '^/a|/b$', '^/b\\-c\\.d/?$'];
    const paths = ['/weather/v1.0/forecast', '/weather/v1.0/forecast/', '/shop/v1', '/shop/v1/x/y', '/items/7', '/aab', '/b', '/xx', '/a12', '/b-c.d/', '/other'];
    for (const pattern of patterns) {
      const regex = compileFullMatch(pattern);
      const prefix = literalPrefixOf(pattern);
      for (const path of paths) if (regex.test(path)) expect(path.startsWith(prefix), `${pattern} ${path}`).toBe(true);
    }
  });
});
