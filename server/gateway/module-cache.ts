// Compiled policy modules, by SHA-256: each module is fetched and compiled once and shared by every plugin and
// every snapshot that pins the same digest. A fetched module whose digest differs from the one pinned in the
// filter configuration is refused (Envoy's RemoteDataSource does the same), and nothing is cached for it.
import { createHash } from 'node:crypto';
import type { WasmCode } from './http-filters.ts';

/** Fetches a module's bytes from its `http_uri`. */
export type ModuleFetcher = (uri: string, timeoutMs: number) => Promise<Uint8Array>;

export const fetchModuleOverHttp: ModuleFetcher = async (uri, timeoutMs) => {
  const response = await fetch(uri, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`GET ${uri} answered ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
};

export class ModuleMismatchError extends Error {
  constructor(uri: string, expected: string, actual: string) {
    super(`module ${uri} has sha256 ${actual}, the configuration pins ${expected}`);
    this.name = 'ModuleMismatchError';
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class ModuleCache {
  private readonly modules = new Map<string, Promise<WebAssembly.Module>>();

  constructor(private readonly fetchModule: ModuleFetcher = fetchModuleOverHttp) {}

  /** The digest that identifies `code` (the pinned one for remote code). */
  static digestOf(code: WasmCode): string {
    return code.kind === 'remote' ? code.sha256 : sha256Hex(code.bytes);
  }

  get(code: WasmCode): Promise<WebAssembly.Module> {
    const digest = ModuleCache.digestOf(code);
    const cached = this.modules.get(digest);
    if (cached !== undefined) {
      // Most recently used last: retain() evicts from the front.
      this.modules.delete(digest);
      this.modules.set(digest, cached);
      return cached;
    }
    const loading = this.load(code, digest);
    this.modules.set(digest, loading);
    // A failed fetch is retried by the next snapshot rather than remembered.
    loading.catch(() => { if (this.modules.get(digest) === loading) this.modules.delete(digest); });
    return loading;
  }

  private async load(code: WasmCode, digest: string): Promise<WebAssembly.Module> {
    const bytes = code.kind === 'remote' ? await this.fetchModule(code.uri, code.timeoutMs) : code.bytes;
    const actual = sha256Hex(bytes);
    if (actual !== digest) throw new ModuleMismatchError(code.kind === 'remote' ? code.uri : 'inline', digest, actual);
    return WebAssembly.compile(new Uint8Array(bytes));
  }

  /** Drops the least recently used modules no live configuration uses, beyond `keepUnused` of them (a policy
   *  removed and added back, or a rollback, then needs no fetch). */
  retain(digests: ReadonlySet<string>, keepUnused = 16): void {
    const unused = [...this.modules.keys()].filter((digest) => !digests.has(digest));
    for (const digest of unused.slice(0, Math.max(0, unused.length - keepUnused))) this.modules.delete(digest);
  }
}
