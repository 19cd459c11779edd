import { describe, expect, it } from 'vitest';
import { Errno, Status } from '../../../../server/gateway/proxy-wasm/abi.ts';
import { createManualClock } from '../../../../server/gateway/proxy-wasm/clock.ts';
import { createHostImports } from '../../../../server/gateway/proxy-wasm/env-imports-host.ts';
import { createHttpStreamImports } from '../../../../server/gateway/proxy-wasm/env-imports-http.ts';
import { guardProxyFunctions } from '../../../../server/gateway/proxy-wasm/guard.ts';
import { GuestMemory } from '../../../../server/gateway/proxy-wasm/guest-memory.ts';
import { HeaderMap } from '../../../../server/gateway/proxy-wasm/header-map.ts';
import { emptyScope, type HostBinding } from '../../../../server/gateway/proxy-wasm/host-binding.ts';
import { MetricsRegistry } from '../../../../server/gateway/proxy-wasm/metrics.ts';
import { InMemorySharedData } from '../../../../server/gateway/proxy-wasm/shared-data.ts';
import { SharedQueues } from '../../../../server/gateway/proxy-wasm/shared-queues.ts';
import { StreamState } from '../../../../server/gateway/proxy-wasm/stream-state.ts';
import { createWasiImports } from '../../../../server/gateway/proxy-wasm/wasi-imports.ts';
import { captureLogger } from '../../../helpers/policies.ts';

const PAGE = 65_536;

/** A binding over one page of memory with a bump allocator from 32 KiB, and a stream with two headers, inside its
 *  request headers callback (the request map live). */
function setup() {
  const memory = new WebAssembly.Memory({ initial: 1 });
  let next = 32_768;
  const guest = new GuestMemory(memory, (size) => {
    const address = next;
    next += size;
    return next > PAGE ? 0 : address;
  });
  const stream = new StreamState(2, new HeaderMap([[':path', '/books?x=1'], ['x-api-key', 'k'], ['x-tier', 'gold'], ['X-Tier', 'silver']]), { routeName: 'api/GET/books' }, 0n);
  stream.requestHeadersLive = true;
  const binding: HostBinding = {
    memory: guest,
    scope: { ...emptyScope(2), stream },
    idleScope: emptyScope(1),
    services: {
      plugin: { name: 'test', rootId: '', vmId: 'vm' },
      logger: captureLogger(),
      clock: createManualClock(0),
      sharedData: new InMemorySharedData(),
      queues: new SharedQueues(),
      metrics: new MetricsRegistry(),
      startHttpCall: () => undefined,
      setTickPeriod: () => undefined,
      notifyQueueReady: () => undefined,
    },
    streams: new Map([[2, stream]]),
    rootContextId: 1,
  };
  const env = {
    ...guardProxyFunctions(createHttpStreamImports(binding), binding.services.logger),
    ...guardProxyFunctions(createHostImports(binding), binding.services.logger),
  };
  const bytes = new Uint8Array(memory.buffer);
  const write = (address: number, text: string): number => {
    const encoded = new TextEncoder().encode(text);
    bytes.set(encoded, address);
    return encoded.length;
  };
  const readReturned = (ptrSlot: number, sizeSlot: number): string => {
    const view = new DataView(memory.buffer);
    const ptr = view.getUint32(ptrSlot, true);
    const size = view.getUint32(sizeSlot, true);
    return new TextDecoder().decode(new Uint8Array(memory.buffer, ptr, size));
  };
  return { binding, env, stream, write, readReturned, wasi: createWasiImports(binding) };
}

describe('proxy-wasm host imports', () => {
  it('returns INVALID_MEMORY_ACCESS when a key pointer is past the end of memory', () => {
    const { env } = setup();
    expect(env.proxy_get_header_map_value(0, PAGE - 2, 10, 0, 4)).toBe(Status.InvalidMemoryAccess);
  });

  it('returns INVALID_MEMORY_ACCESS when a length wraps past 2^32', () => {
    const { env } = setup();
    expect(env.proxy_log(2, 100, -1)).toBe(Status.InvalidMemoryAccess);
  });

  it('returns INVALID_MEMORY_ACCESS without allocating when a return slot is out of bounds', () => {
    const { env, write } = setup();
    const keySize = write(0, 'x-api-key');
    expect(env.proxy_get_header_map_value(0, 0, keySize, PAGE, 4)).toBe(Status.InvalidMemoryAccess);
    expect(env.proxy_get_header_map_value(0, 0, keySize, 16, PAGE - 1)).toBe(Status.InvalidMemoryAccess);
  });

  it('returns the header value through the allocator when pointers are valid', () => {
    const { env, write, readReturned } = setup();
    const keySize = write(0, 'X-API-Key');
    expect(env.proxy_get_header_map_value(0, 0, keySize, 16, 20)).toBe(Status.Ok);
    expect(readReturned(16, 20)).toBe('k');
  });

  it('returns the first value of a repeated header, as Envoy does', () => {
    const { env, write, readReturned } = setup();
    const keySize = write(0, 'x-tier');
    expect(env.proxy_get_header_map_value(0, 0, keySize, 16, 20)).toBe(Status.Ok);
    expect(readReturned(16, 20)).toBe('gold');
  });

  it('returns BAD_ARGUMENT when the header map type is unknown', () => {
    const { env, write } = setup();
    const keySize = write(0, 'x');
    expect(env.proxy_get_header_map_value(42, 0, keySize, 16, 20)).toBe(Status.BadArgument);
  });

  it('returns BAD_ARGUMENT when serialized pairs claim more data than given', () => {
    const { env, binding } = setup();
    const pairs = new Uint8Array(12);
    new DataView(pairs.buffer).setUint32(0, 1000, true);
    binding.memory?.writeBytes(0, pairs);
    expect(env.proxy_set_header_map_pairs(0, 0, 12)).toBe(Status.BadArgument);
  });

  it('finds a property only when its path is NUL-separated', () => {
    const { env, write, readReturned } = setup();
    const nul = write(0, 'xds\0route_name');
    expect(env.proxy_get_property(0, nul, 16, 20)).toBe(Status.Ok);
    expect(readReturned(16, 20)).toBe('api/GET/books');
    const dotted = write(0, 'xds.route_name');
    expect(env.proxy_get_property(0, dotted, 16, 20)).toBe(Status.NotFound);
    const path = write(0, 'request\0path');
    expect(env.proxy_get_property(0, path, 16, 20)).toBe(Status.Ok);
    expect(readReturned(16, 20)).toBe('/books?x=1');
  });

  it('refuses a shared data write when the CAS token is stale', () => {
    const { env, write, binding, readReturned } = setup();
    const keySize = write(0, 'counter');
    write(100, 'v1');
    expect(env.proxy_set_shared_data(0, keySize, 100, 2, 0)).toBe(Status.Ok);
    expect(env.proxy_get_shared_data(0, keySize, 16, 20, 24)).toBe(Status.Ok);
    const cas = binding.memory?.readU32(24) ?? 0;
    expect(cas).not.toBe(0);
    expect(readReturned(16, 20)).toBe('v1');
    write(100, 'v2');
    expect(env.proxy_set_shared_data(0, keySize, 100, 2, cas)).toBe(Status.Ok);
    expect(env.proxy_set_shared_data(0, keySize, 100, 2, cas)).toBe(Status.CasMismatch);
  });

  it('records a local reply once when the module sends two', () => {
    const { env, stream, write } = setup();
    const details = write(0, 'first');
    expect(env.proxy_send_local_response(403, 0, details, 0, 0, 0, 0, 0)).toBe(Status.Ok);
    expect(env.proxy_send_local_response(401, 0, 0, 0, 0, 0, 0, 0)).toBe(Status.Ok);
    expect(stream.localReply?.status).toBe(403);
    expect(stream.localReply?.details).toBe('first');
  });

  it('refuses a local reply when its status code is not an HTTP status', () => {
    const { env } = setup();
    expect(env.proxy_send_local_response(42, 0, 0, 0, 0, 0, 0, 0)).toBe(Status.BadArgument);
  });

  it('returns WASI FAULT when fd_write iovecs point outside memory', () => {
    const { wasi } = setup();
    const fdWrite = wasi['fd_write'] as (fd: number, iovs: number, count: number, written: number) => number;
    expect(fdWrite(1, PAGE - 4, 1, 0)).toBe(Errno.Fault);
    expect(fdWrite(7, 0, 0, 0)).toBe(Errno.Badf);
  });

  it('writes the host clock when the module asks for the time', () => {
    const { env, binding } = setup();
    expect(env.proxy_get_current_time_nanoseconds(8)).toBe(Status.Ok);
    expect(env.proxy_get_current_time_nanoseconds(PAGE - 4)).toBe(Status.InvalidMemoryAccess);
    expect(binding.memory?.readU32(8)).toBe(0);
  });
});
