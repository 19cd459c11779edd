import { describe, expect, it } from 'vitest';
import { apiOfRouteName, definitionClusterName, routeName, upstreamClusterName, virtualHostName, wasmVmId } from '../../../server/xds/names.ts';

describe('xds names', () => {
  it('names a route <api-id>/<METHOD>/<path-template> as the design fixes', () => {
    expect(routeName('reading-list-api-v1.0', 'get', '/books/{id}')).toBe('reading-list-api-v1.0/GET/books/{id}');
    expect(routeName('a', 'GET', '/')).toBe('a/GET/');
  });

  it('recovers the API id from a route name', () => {
    expect(apiOfRouteName('reading-list-api-v1.0/GET/books/{id}')).toBe('reading-list-api-v1.0');
  });

  it('keeps API clusters apart from the platform ones and from each other', () => {
    expect(upstreamClusterName('orders', 'main')).toBe('api/orders/main');
    expect(upstreamClusterName('orders', 'sandbox')).toBe('api/orders/sandbox');
    expect(definitionClusterName('orders', 'pool', null)).toBe('api/orders/upstream/pool');
    expect(definitionClusterName('orders', 'pool', 2)).toBe('api/orders/upstream/pool/2');
  });

  it('lowercases virtual host domains and gives one VM id per module', () => {
    expect(virtualHostName('API.Example.com')).toBe('vhost/api.example.com');
    expect(wasmVmId('throttle')).toBe('apip/throttle');
  });
});
