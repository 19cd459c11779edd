import { describe, expect, it } from 'vitest';
import { readRequestHead } from '../../../server/gateway/http-headers.ts';

describe('readRequestHead', () => {
  it('leaves HTTP/2 pseudo-headers out and takes :authority as the Host', () => {
    const head = readRequestHead([':method', 'GET', ':path', '/a', ':authority', 'api.example.com', ':scheme', 'https', 'x-a', '1']);
    expect(head.headers).toEqual(['x-a', '1']);
    expect(head.host).toBe('api.example.com');
  });

  it('joins HTTP/2 cookie fields into one Cookie header with "; " (RFC 9113 8.2.3), as Envoy does towards HTTP/1.1', () => {
    const head = readRequestHead([':method', 'GET', ':authority', 'h', 'cookie', 'a=1', 'x-b', '2', 'cookie', 'b=2']);
    expect(head.headers).toEqual(['cookie', 'a=1; b=2', 'x-b', '2']);
  });

  it('keeps repeated HTTP/1.1 Cookie headers as sent', () => {
    const head = readRequestHead(['Host', 'h', 'Cookie', 'a=1', 'Cookie', 'b=2']);
    expect(head.headers).toEqual(['cookie', 'a=1', 'cookie', 'b=2']);
    expect(head.host).toBe('h');
  });
});
