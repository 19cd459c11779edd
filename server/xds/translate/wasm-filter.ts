import { policyModulePath, wasmFilterName, wasmVmId } from '../names.ts';
import type { EnvoyResource } from '../../envoy/resources.ts';

/**
 * How long Envoy may take to download a module from the control plane before the listener update fails.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/core/v3/http_uri.proto (timeout is required)
 */
const moduleFetchTimeout = '10s';

/** V8 is the runtime every Envoy build ships. https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/wasm/v3/wasm.proto#envoy-v3-api-msg-extensions-wasm-v3-vmconfig */
const wasmRuntime = 'envoy.wasm.runtime.v8';

export interface WasmModuleSource {
  /** Module (= policy kind) name. */
  name: string;
  sha256: string;
  /** Control plane base URL (no trailing slash) and the cluster that reaches it. */
  controlPlaneUrl: string;
  controlPlaneCluster: string;
}

/**
 * One `envoy.filters.http.wasm` HTTP filter running a policy module: code fetched over HTTP from the control
 * plane and pinned by sha256 (RemoteDataSource), one VM per module (vm_id) so shared data survives configuration
 * updates, and the plugin configuration as a google.protobuf.StringValue, which Envoy hands to
 * `proxy_on_configure` unwrapped (https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/wasm/v3/wasm.proto#envoy-v3-api-msg-extensions-wasm-v3-pluginconfig).
 * fail_open stays false: a module that fails to load or configure fails closed.
 */
export function wasmHttpFilter(module: WasmModuleSource, configuration: Record<string, unknown>): EnvoyResource {
  return {
    name: wasmFilterName(module.name),
    typedConfig: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm',
      config: {
        name: module.name,
        vmConfig: {
          vmId: wasmVmId(module.name),
          runtime: wasmRuntime,
          code: {
            remote: {
              httpUri: {
                uri: `${module.controlPlaneUrl}${policyModulePath(module.name)}`,
                cluster: module.controlPlaneCluster,
                timeout: moduleFetchTimeout,
              },
              sha256: module.sha256,
            },
          },
        },
        configuration: {
          '@type': 'type.googleapis.com/google.protobuf.StringValue',
          value: JSON.stringify(configuration),
        },
      },
    },
  };
}
