// Envoy's own protobuf definitions, as shipped inside `@grpc/grpc-js-xds` (`deps/envoy-api`, with the xds,
// googleapis and protoc-gen-validate protos they import), loaded lazily with protobufjs, once per process.
// Two roots, because their costs differ: every loadable v3 file for the control plane's strict check and codec
// (envoyProtoRoot), and only what a data plane's ADS client decodes (adsProtoRoot).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');

/** Where @grpc/proto-loader and protobufjs find Envoy's protos and their imports. */
export const envoyProtoIncludeDirs: readonly string[] = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => join(deps, dir));

// google/protobuf/descriptor.proto ships with protobufjs (the other well-known types are built in).
const includes = [...envoyProtoIncludeDirs, dirname(require.resolve('protobufjs/package.json'))];

/** The file a proto import names, or null when no include dir has it; built-in well-known types resolve to themselves. */
function findProto(target: string): string | null {
  if (protobuf.common.get(target) !== null) return target;
  for (const dir of includes) {
    const path = join(dir, target);
    if (existsSync(path)) return path;
  }
  return null;
}

function loadRoot(files: readonly string[]): protobuf.Root {
  const loaded = new protobuf.Root();
  loaded.resolvePath = (_origin, target) => findProto(target) ?? target;
  loaded.loadSync([...files], { keepCase: false });
  loaded.resolveAll();
  return loaded;
}

function protoFiles(dir: string, prefix: string, out: string[]): string[] {
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) protoFiles(dir, rel, out);
    else if (entry.name.endsWith('.proto')) out.push(rel);
  }
  return out;
}

/** Every file under envoy/ whose imports all resolve: files whose imports are missing from the bundle (mostly v2
 *  and third-party tracers) are skipped; every v3 message we generate loads. */
function loadableEnvoyFiles(): string[] {
  const loadable = new Map<string, boolean>();
  const canLoad = (target: string, stack: Set<string>): boolean => {
    const known = loadable.get(target);
    if (known !== undefined) return known;
    if (stack.has(target)) return true;
    const path = findProto(target);
    if (path === null) {
      loadable.set(target, false);
      return false;
    }
    if (protobuf.common.get(target)) {
      loadable.set(target, true);
      return true;
    }
    stack.add(target);
    const imports = [...readFileSync(path, 'utf8').matchAll(/^import\s+(?:public\s+|weak\s+)?"([^"]+)"/gm)].map((m) => m[1] ?? '');
    const result = imports.every((i) => canLoad(i, stack));
    stack.delete(target);
    loadable.set(target, result);
    return result;
  };
  return protoFiles(join(deps, 'envoy-api'), 'envoy', []).filter((f) => canLoad(f, new Set()));
}

let fullRoot: protobuf.Root | null = null;

/** Every loadable Envoy v3 message (camelCase field names, as proto3 JSON): strict validation and the ADS codec. */
export function envoyProtoRoot(): protobuf.Root {
  fullRoot ??= loadRoot(loadableEnvoyFiles());
  return fullRoot;
}

/** The discovery service, the four resource types and every type our resources carry in Anys. */
const adsFiles = [
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

let adsRoot: protobuf.Root | null = null;

/** What a data plane's ADS client needs, a fraction of envoyProtoRoot's load time (camelCase field names). */
export function adsProtoRoot(): protobuf.Root {
  adsRoot ??= loadRoot(adsFiles);
  return adsRoot;
}

/** The message type a type URL (`type.googleapis.com/x.y.Z`) or full name (`.x.y.Z`, `x.y.Z`) names; throws when unknown. */
export function messageType(root: protobuf.Root, typeUrlOrName: string): protobuf.Type {
  const name = typeUrlOrName.slice(typeUrlOrName.lastIndexOf('/') + 1).replace(/^\./, '');
  const found = root.lookup(name);
  if (!(found instanceof protobuf.Type)) throw new Error(`unknown protobuf message type '${name}'`);
  return found;
}
