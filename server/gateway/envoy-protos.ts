// Envoy's protobuf definitions (the `deps/` protos inside @grpc/grpc-js-xds), loaded once with protobufjs for
// the ADS client: the discovery service, the four resource types and every type our resources carry in Anys.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

const files = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/wasm/v3/wasm.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  // The listener's access log (analytics); the gateway reports in-process and ignores it, but must decode it.
  'envoy/extensions/access_loggers/grpc/v3/als.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'google/protobuf/wrappers.proto',
];

let root: protobuf.Root | null = null;

/** The loaded Root (camelCase field names, as proto3 JSON). */
export function envoyProtos(): protobuf.Root {
  if (root !== null) return root;
  const require = createRequire(import.meta.url);
  const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  const includes = [
    ...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => join(deps, dir)),
    // google/protobuf/descriptor.proto ships with protobufjs (the other well-known types are built in).
    dirname(require.resolve('protobufjs/package.json')),
  ];
  const loaded = new protobuf.Root();
  loaded.resolvePath = (_origin, target) => {
    // The well-known types are built into protobufjs.
    if (protobuf.common.get(target) !== null) return target;
    for (const dir of includes) {
      const path = join(dir, target);
      if (existsSync(path)) return path;
    }
    return target;
  };
  loaded.loadSync(files, { keepCase: false });
  loaded.resolveAll();
  root = loaded;
  return loaded;
}
