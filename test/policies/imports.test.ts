import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import binaryen from 'assemblyscript/binaryen';
import { describe, expect, it } from 'vitest';
import { policiesBuildDir, policyWasm } from '../helpers/policies.ts';

// proxy-wasm ABI v0.2.1 host functions as Envoy provides them
// (https://github.com/proxy-wasm/spec/tree/main/abi-versions/v0.2.1).
const ENVOY_FUNCTIONS = new Set([
  'proxy_log', 'proxy_get_log_level', 'proxy_get_current_time_nanoseconds', 'proxy_set_tick_period_milliseconds',
  'proxy_get_property', 'proxy_set_property', 'proxy_continue_stream', 'proxy_close_stream', 'proxy_send_local_response',
  'proxy_get_shared_data', 'proxy_set_shared_data', 'proxy_register_shared_queue', 'proxy_resolve_shared_queue',
  'proxy_enqueue_shared_queue', 'proxy_dequeue_shared_queue', 'proxy_get_header_map_size', 'proxy_get_header_map_pairs',
  'proxy_set_header_map_pairs', 'proxy_get_header_map_value', 'proxy_add_header_map_value', 'proxy_replace_header_map_value',
  'proxy_remove_header_map_value', 'proxy_get_buffer_bytes', 'proxy_get_buffer_status', 'proxy_set_buffer_bytes',
  'proxy_http_call', 'proxy_grpc_call', 'proxy_grpc_stream', 'proxy_grpc_send', 'proxy_grpc_cancel', 'proxy_grpc_close',
  'proxy_get_status', 'proxy_define_metric', 'proxy_increment_metric', 'proxy_record_metric', 'proxy_get_metric',
  'proxy_set_effective_context', 'proxy_done', 'proxy_call_foreign_function',
]);

// WASI functions the spec lists for hosts, which AssemblyScript's wasi-shim may import.
const WASI_FUNCTIONS = new Set([
  'fd_write', 'proc_exit', 'clock_time_get', 'random_get', 'environ_sizes_get', 'environ_get', 'args_sizes_get', 'args_get',
]);

// The wasm features every runtime Envoy can be built with (V8, Wasmtime, WAMR) runs. WAMR as proxy-wasm-cpp-host
// builds it (bazel/external/wamr.BUILD) has no SIMD, so SIMD is not among them; nor are threads, GC, exceptions or
// memory64, which AssemblyScript does not emit unless asked.
const PORTABLE_FEATURES = [
  ['mutable-globals', binaryen.Features.MutableGlobals],
  ['sign-extension', binaryen.Features.SignExt],
  ['non-trapping float-to-int', binaryen.Features.NontrappingFPToInt],
  ['bulk memory', binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt],
  ['multi-value', binaryen.Features.Multivalue],
] as const;

/** Whether binaryen validates `bytes` with only the portable features enabled. */
function isPortable(bytes: Uint8Array): boolean {
  const module = binaryen.readBinary(bytes);
  try {
    module.setFeatures(PORTABLE_FEATURES.reduce<number>((all, [, feature]) => all | feature, 0) as binaryen.Features);
    return module.validate() !== 0;
  } finally {
    module.dispose();
  }
}

const policiesDir = join(policiesBuildDir, '..');
const moduleNames = readdirSync(policiesDir)
  .filter((name) => name !== 'lib' && name !== 'build' && statSync(join(policiesDir, name)).isDirectory())
  .filter((name) => existsSync(join(policiesDir, name, 'index.ts')))
  .sort();

describe('policy modules', () => {
  it('exist for every policy folder', () => {
    expect(moduleNames).toEqual(expect.arrayContaining(['api-key', 'set-headers', 'subscription-validation', 'throttle']));
  });

  it.each(moduleNames)('%s imports only Envoy proxy-wasm 0.2.1 functions and WASI', (name) => {
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(policyWasm(name)));
    const refused = imports.filter(({ module, name: importName, kind }) =>
      kind !== 'function'
      || !((module === 'env' && ENVOY_FUNCTIONS.has(importName)) || (module === 'wasi_snapshot_preview1' && WASI_FUNCTIONS.has(importName))));
    expect(refused).toEqual([]);
  });

  it.each(moduleNames)(`%s uses only wasm features every Envoy runtime has (${PORTABLE_FEATURES.map(([n]) => n).join(', ')})`, (name) => {
    expect(isPortable(policyWasm(name))).toBe(true);
  });

  it('the portability check refuses a SIMD instruction', () => {
    // (func (result v128) v128.const i64x2 0 0), the smallest module using SIMD
    const simd = new Uint8Array([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00,
      0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, ...new Array<number>(16).fill(0), 0x0b,
    ]);
    expect(WebAssembly.validate(simd)).toBe(true);
    expect(isPortable(simd)).toBe(false);
  });

  it.each(moduleNames)('%s exports the ABI marker and the allocator', (name) => {
    const exports = WebAssembly.Module.exports(new WebAssembly.Module(policyWasm(name))).map((entry) => entry.name);
    expect(exports).toEqual(expect.arrayContaining(['proxy_abi_version_0_2_1', 'proxy_on_memory_allocate', 'proxy_on_context_create', 'memory']));
  });

  it.each(moduleNames)('%s is byte-identical to what the manifest hashes', (name) => {
    const bytes = policyWasm(name);
    const manifest = JSON.parse(readFileSync(join(policiesBuildDir, 'manifest.json'), 'utf8')) as Record<string, { file: string; sha256: string; size: number }>;
    expect(manifest[name]).toEqual({
      file: `${name}.wasm`,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
    });
  });

  it.each(moduleNames)('%s is at most 100 KB', (name) => {
    expect(policyWasm(name).length).toBeLessThanOrEqual(100 * 1024);
  });
});
