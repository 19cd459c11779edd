import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RouteHandler } from './management-server.ts';

/** One entry of policies/build/manifest.json, written by policies/build.mjs. */
export interface PolicyModule {
  name: string;
  file: string;
  sha256: string;
  size: number;
  bytes: Buffer;
}

const buildDir = fileURLToPath(new URL('../policies/build/', import.meta.url));

/**
 * Reads the compiled policy modules once at start-up. Envoy's remote wasm source pins each module by
 * sha256, so what we serve must be exactly the manifest's bytes: they are read once and never rebuilt
 * behind a running server.
 */
export function loadPolicyModules(dir: string = buildDir): Map<string, PolicyModule> {
  const manifest = JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8')) as Record<
    string,
    { file: string; sha256: string; size: number }
  >;
  const modules = new Map<string, PolicyModule>();
  for (const [name, entry] of Object.entries(manifest)) {
    modules.set(name, { name, ...entry, bytes: readFileSync(`${dir}/${entry.file}`) });
  }
  return modules;
}

/**
 * GET /policies/<name>.wasm — unauthenticated on purpose: data planes fetch modules with no management
 * credentials (Envoy's RemoteDataSource has none), and a module holds no secret; its configuration does.
 */
export function createPolicyModuleHandler(modules: ReadonlyMap<string, PolicyModule>): RouteHandler {
  return (req, res) => {
    const match = /^\/policies\/([a-z0-9-]+)\.wasm$/.exec(req.url ?? '');
    if (!match) return false;
    const module = modules.get(match[1] ?? '');
    if (!module || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Not Found' }));
      return true;
    }
    res.writeHead(200, {
      'content-type': 'application/wasm',
      'content-length': String(module.bytes.length),
      etag: `"${module.sha256}"`,
      'x-content-sha256': module.sha256,
      'cache-control': 'public, max-age=31536000, immutable',
    });
    res.end(req.method === 'HEAD' ? undefined : module.bytes);
    return true;
  };
}
