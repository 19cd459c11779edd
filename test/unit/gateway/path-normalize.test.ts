import { describe, expect, it } from 'vitest';
import { normalizeRequestPath } from '../../../server/gateway/path-normalize.ts';

const both = { normalizePath: true, mergeSlashes: true };

describe('normalizeRequestPath', () => {
  it('removes dot segments so a client cannot climb out of a prefix', () => {
    expect(normalizeRequestPath('/public/../admin/./users', both)).toBe('/admin/users');
    expect(normalizeRequestPath('/../../etc', both)).toBe('/etc');
    expect(normalizeRequestPath('/a/b/..', both)).toBe('/a/');
  });

  it('decodes unreserved escapes, keeps others upper-cased, and reads a backslash as a slash', () => {
    expect(normalizeRequestPath('/books/%41%7e%2e%2e/x%2fy', both)).toBe('/books/A~../x%2Fy');
    expect(normalizeRequestPath('/a\\b', both)).toBe('/a/b');
  });

  it('merges slashes and leaves the query alone', () => {
    expect(normalizeRequestPath('//a///b?next=//x/../y', both)).toBe('/a/b?next=//x/../y');
  });

  it('returns null for a malformed escape, and the path untouched when both options are off', () => {
    expect(normalizeRequestPath('/a%zz', both)).toBeNull();
    expect(normalizeRequestPath('/a/../b//c', { normalizePath: false, mergeSlashes: false })).toBe('/a/../b//c');
  });
});
