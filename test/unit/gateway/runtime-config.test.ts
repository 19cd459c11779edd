import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ModuleCache } from '../../../server/gateway/module-cache.ts';
import { buildRuntimeConfig } from '../../../server/gateway/runtime-config.ts';
import type { EnvoyResource, Snapshot } from '../../../server/envoy/resources.ts';
import type { ChainFilter } from '../../../server/gateway/filter-chain.ts';
import { HeaderMap } from '../../../server/gateway/proxy-wasm/header-map.ts';
import { compileProbe } from '../../policies/fixtures/compile-probe.ts';
import { localReplyOf } from '../../helpers/policies.ts';
import { listener, route, routeConfiguration, snapshot, staticCluster, wasmFilter } from '../../fixtures/gateway/envoy-resources.ts';

const routes = [routeConfiguration([{ name: 'v', domains: ['*'], routes: [route({ name: 'r', match: { prefix: '/' }, cluster: 'c' })] }])];
const clusters = [staticCluster('c', [{ address: '127.0.0.1', port: 1 }])];
const deps = () => ({
  modules: new ModuleCache(async () => { throw new Error('no module server in unit tests'); }),
  previous: null,
  logger: pino({ level: 'silent' }),
});

function withFilters(httpFilters: EnvoyResource[]): Snapshot {
  const base = listener();
  const chain = (base.filterChains as { filters: { typedConfig: { httpFilters: EnvoyResource[] } }[] }[])[0]?.filters[0]?.typedConfig;
  if (chain === undefined) throw new Error('fixture shape');
  chain.httpFilters = httpFilters;
  return snapshot('1', { listeners: [base], routes, clusters });
}

const router = { name: 'envoy.filters.http.router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

describe('buildRuntimeConfig', () => {
  it('builds routes and clusters from the listener RDS name', async () => {
    const config = await buildRuntimeConfig(snapshot('9', { routes, clusters }), deps());
    expect(config.version).toBe('9');
    expect(config.listenerName).toBe('apip-gateway');
    expect(config.routes.match({ authority: 'x', path: '/a', header: () => undefined })?.route.name).toBe('r');
    expect(config.clusters.get('c')?.endpoints).toEqual([{ address: '127.0.0.1', port: 1, hostname: undefined, weight: 1 }]);
  });

  it('refuses a snapshot whose route configuration is missing', async () => {
    await expect(buildRuntimeConfig(snapshot('1', { routes: [], clusters }), deps())).rejects.toThrow(/route configuration "gateway-routes" is not in the snapshot/);
  });

  it('refuses a chain whose router is not last, or an unknown filter that is not optional', async () => {
    await expect(buildRuntimeConfig(withFilters([router, router]), deps())).rejects.toThrow(/router must be the last/);
    const unknown = { name: 'envoy.filters.http.cors', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors' } };
    await expect(buildRuntimeConfig(withFilters([unknown, router]), deps())).rejects.toThrow(/not supported/);
    const config = await buildRuntimeConfig(withFilters([{ ...unknown, isOptional: true }, router]), deps());
    expect(config.filters).toEqual([]);
  });

  it('refuses a disabled router: a terminal filter cannot be disabled', async () => {
    await expect(buildRuntimeConfig(withFilters([{ ...router, disabled: true }]), deps())).rejects.toThrow(/cannot be disabled/);
  });

  it('keeps a wasm filter whose module cannot be fetched as a fail-closed entry', async () => {
    const filter = wasmFilter({ module: 'set-headers', baseUrl: 'http://127.0.0.1:1', sha256: 'a'.repeat(64), configuration: {} });
    const config = await buildRuntimeConfig(snapshot('1', { listeners: [listener([filter])], routes, clusters }), deps());
    expect(config.filters).toEqual([expect.objectContaining({ kind: 'failed', name: 'envoy.filters.http.wasm/set-headers' })]);
  });

  it('refuses a remote module without a sha256', async () => {
    const filter = wasmFilter({ module: 'set-headers', baseUrl: 'http://127.0.0.1:1', sha256: '', configuration: {} });
    await expect(buildRuntimeConfig(snapshot('1', { listeners: [listener([filter])], routes, clusters }), deps())).rejects.toThrow(/sha256/);
  });

  it('refuses a cluster defined twice', async () => {
    await expect(buildRuntimeConfig(snapshot('1', { routes, clusters: [...clusters, ...clusters] }), deps())).rejects.toThrow(/defined twice/);
  });

  it('reads path_with_escaped_slashes_action REJECT_REQUEST and refuses the unescaping actions it does not implement', async () => {
    const withAction = (action: string | undefined): Snapshot => {
      const base = listener();
      const hcm = (base.filterChains as { filters: { typedConfig: Record<string, unknown> }[] }[])[0]!.filters[0]!.typedConfig;
      if (action === undefined) delete hcm.pathWithEscapedSlashesAction;
      else hcm.pathWithEscapedSlashesAction = action;
      return snapshot('1', { listeners: [base], routes, clusters });
    };
    expect((await buildRuntimeConfig(withAction('REJECT_REQUEST'), deps())).pathNormalization.rejectEscapedSlashes).toBe(true);
    expect((await buildRuntimeConfig(withAction(undefined), deps())).pathNormalization.rejectEscapedSlashes).toBe(false);
    await expect(buildRuntimeConfig(withAction('UNESCAPE_AND_FORWARD'), deps())).rejects.toThrow(/pathWithEscapedSlashesAction UNESCAPE_AND_FORWARD is not supported/);
  });

  it('reads headers_with_underscores_action (ALLOW when absent)', async () => {
    const withAction = (action: string | undefined): Snapshot => {
      const base = listener();
      const hcm = (base.filterChains as { filters: { typedConfig: Record<string, unknown> }[] }[])[0]!.filters[0]!.typedConfig;
      hcm.commonHttpProtocolOptions = action === undefined ? undefined : { headersWithUnderscoresAction: action };
      return snapshot('1', { listeners: [base], routes, clusters });
    };
    expect((await buildRuntimeConfig(withAction('DROP_HEADER'), deps())).headersWithUnderscores).toBe('DROP_HEADER');
    expect((await buildRuntimeConfig(withAction('REJECT_REQUEST'), deps())).headersWithUnderscores).toBe('REJECT_REQUEST');
    expect((await buildRuntimeConfig(withAction(undefined), deps())).headersWithUnderscores).toBe('ALLOW');
    await expect(buildRuntimeConfig(withAction('SOMETHING'), deps())).rejects.toThrow(/headersWithUnderscoresAction SOMETHING is not supported/);
  });

  it('replaces a plugin whose VM failed when the next snapshot carries the same filter (cpp-host getOrCreateThreadLocalPlugin)', async () => {
    const probe = await compileProbe();
    const sha256 = createHash('sha256').update(probe).digest('hex');
    const modules = new ModuleCache(async () => probe);
    const filter = wasmFilter({ module: 'host-probe', baseUrl: 'http://modules.test', sha256, configuration: 'trap' });
    const served = snapshot('1', { listeners: [listener([filter])], routes, clusters });
    const pluginOf = (filters: readonly ChainFilter[]) => {
      const first = filters[0];
      if (first?.kind !== 'plugin') throw new Error('expected a running plugin');
      return first.plugin;
    };
    const headers = (extra: Array<[string, string]> = []) => new HeaderMap([[':method', 'GET'], [':path', '/'], [':authority', 'a'], ...extra]);
    const first = await buildRuntimeConfig(served, { ...deps(), modules });
    const failing = pluginOf(first.filters);
    const trapped = failing.createHttpContext();
    expect(localReplyOf(trapped.onRequestHeaders(headers([['x-trap', '1']]), true)).status).toBe(503);
    trapped.onDone();

    const second = await buildRuntimeConfig({ ...served, version: '2' }, { ...deps(), modules, previous: first });
    const replaced = pluginOf(second.filters);
    expect(replaced).not.toBe(failing);
    const stream = replaced.createHttpContext();
    const next = headers();
    expect(stream.onRequestHeaders(next, true)).toEqual({ action: 'continue' });
    stream.onDone();
    expect(next.get('x-ran')).toBe('1');
    // A healthy plugin is still carried over as it is.
    const third = await buildRuntimeConfig({ ...served, version: '3' }, { ...deps(), modules, previous: second });
    expect(pluginOf(third.filters)).toBe(replaced);
  });
});
