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

  it('refuses %2F and %5C in either case in the path when asked to reject escaped slashes, and only then', () => {
    const rejecting = { ...both, rejectEscapedSlashes: true };
    for (const path of ['/a%2Fb', '/a%2fb', '/a%5Cb', '/a%5cb']) {
      expect(normalizeRequestPath(path, rejecting), path).toBeNull();
      expect(normalizeRequestPath(path, { ...rejecting, normalizePath: false, mergeSlashes: false }), path).toBeNull();
    }
    expect(normalizeRequestPath('/a?next=%2F', rejecting)).toBe('/a?next=%2F');
    expect(normalizeRequestPath('/a%2Fb', both)).toBe('/a%2Fb');
  });
});
