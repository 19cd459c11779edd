import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

/**
 * Envoy's own protobuf definitions, as shipped inside `@grpc/grpc-js-xds` (`deps/envoy-api`, with the xds,
 * googleapis and protoc-gen-validate protos they import), loaded once with protobufjs. Files whose imports are
 * missing from that bundle (mostly v2 and third-party tracers) are skipped; every v3 message we generate loads.
 */
let root: protobuf.Root | null = null;

function depsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
}

function protoFiles(dir: string, prefix: string, out: string[]): string[] {
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) protoFiles(dir, rel, out);
    else if (entry.name.endsWith('.proto')) out.push(rel);
  }
  return out;
}

export function envoyProtoRoot(): protobuf.Root {
  if (root) return root;
  const deps = depsDir();
  const require = createRequire(import.meta.url);
  const includes = [
    join(deps, 'envoy-api'),
    join(deps, 'xds'),
    join(deps, 'googleapis'),
    join(deps, 'protoc-gen-validate'),
    // google/protobuf/descriptor.proto (the well-known types are built into protobufjs).
    dirname(require.resolve('protobufjs/package.json')),
  ];
  const find = (target: string): string | null => {
    if (protobuf.common.get(target)) return target;
    for (const dir of includes) {
      const path = join(dir, target);
      if (existsSync(path)) return path;
    }
    return null;
  };
  const loadable = new Map<string, boolean>();
  const canLoad = (target: string, stack: Set<string>): boolean => {
    const known = loadable.get(target);
    if (known !== undefined) return known;
    if (stack.has(target)) return true;
    const path = find(target);
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
  const files = protoFiles(join(deps, 'envoy-api'), 'envoy', []).filter((f) => canLoad(f, new Set()));
  const loaded = new protobuf.Root();
  loaded.resolvePath = (_origin, target) => find(target) ?? target;
  loaded.loadSync(files, { keepCase: false });
  loaded.resolveAll();
  root = loaded;
  return loaded;
}
