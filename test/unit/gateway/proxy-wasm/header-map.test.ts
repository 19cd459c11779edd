// The header map and the guest-memory fast paths behind proxy_get_header_map_pairs / _value: Envoy's map
// semantics, UTF-8 beyond ASCII, interned reads that must never return a stale string, and memory growth while
// the guest allocates a returned value.
import { describe, expect, it } from 'vitest';
import { GuestMemory } from '../../../../server/gateway/proxy-wasm/guest-memory.ts';
import { HeaderMap, parsePairs, serializePairs } from '../../../../server/gateway/proxy-wasm/header-map.ts';

const PAGE = 65_536;

describe('HeaderMap', () => {
  it('keeps Envoy semantics when headers repeat: get joins, replace removes every value then adds, remove drops all', () => {
    const map = new HeaderMap([['Accept', 'a'], ['x-b', '1'], ['accept', 'b'], ['X-C', '2'], ['ACCEPT', 'c']]);
    expect(map.get('accept')).toBe('a,b,c');
    // Envoy's setCopy with http_set_copy_replace_all_headers: remove, then addCopy (at the end).
    map.replace('Accept', 'json');
    expect(map.toList()).toEqual([['x-b', '1'], ['x-c', '2'], ['accept', 'json']]);
    map.add('x-b', '3');
    map.remove('X-B');
    expect(map.toList()).toEqual([['x-c', '2'], ['accept', 'json']]);
    expect(map.size).toBe(2);
    map.replace('x-new', 'v');
    expect(map.toList()).toEqual([['x-c', '2'], ['accept', 'json'], ['x-new', 'v']]);
    // A pseudo-header goes after the pseudo-headers, as Envoy's header list keeps them first.
    map.add(':path', '/');
    expect(map.nameAt(0)).toBe(':path');
  });

  it('serialises UTF-8 names and values of any length so that parsePairs reads them back', () => {
    const entries: Array<[string, string]> = [
      [':path', '/bücher?q=日本'], ['x-short', 'é'], ['x-long-ascii', 'a'.repeat(100)], ['x-long-utf8', 'ü'.repeat(80)], ['x-empty', ''],
    ];
    const map = new HeaderMap(entries);
    const serialized = map.serialize();
    expect(serialized.length).toBe(map.serializedSize());
    expect(parsePairs(serialized)).toEqual(entries);
    expect(serializePairs(entries)).toEqual(serialized);
  });
});

/** GuestMemory over `pages` pages whose allocator bumps from `start` and can grow memory first. */
function guestMemory(pages: number, start: number, growOnAllocate = false) {
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages + 4 });
  let next = start;
  const guest = new GuestMemory(memory, (size) => {
    if (growOnAllocate) {
      const oldPages = memory.grow(1);
      next = oldPages * PAGE;
    }
    const address = next;
    next += size;
    return address;
  });
  const write = (address: number, text: string): number => {
    const encoded = new TextEncoder().encode(text);
    new Uint8Array(memory.buffer).set(encoded, address);
    return encoded.length;
  };
  const returned = (ptrSlot: number, sizeSlot: number): Uint8Array => {
    const view = new DataView(memory.buffer);
    return new Uint8Array(memory.buffer, view.getUint32(ptrSlot, true), view.getUint32(sizeSlot, true)).slice();
  };
  return { memory, guest, write, returned };
}

describe('GuestMemory', () => {
  it('reads the current bytes when a short string at the same place changes', () => {
    const { guest, write } = guestMemory(1, 32_768);
    const size = write(0, 'x-api-key');
    expect(guest.readString(0, size)).toBe('x-api-key');
    write(0, 'x-api-kez');
    expect(guest.readString(0, size)).toBe('x-api-kez');
    const utf8 = write(100, 'clé-ü');
    expect(guest.readString(100, utf8)).toBe('clé-ü');
    const long = write(200, `throttle|route|${'r'.repeat(80)}|60000|`);
    expect(guest.readString(200, long)).toBe(`throttle|route|${'r'.repeat(80)}|60000|`);
  });

  it('writes returned strings and header maps into memory the allocator just grew', () => {
    const { guest, returned, memory } = guestMemory(1, 32_768, true);
    guest.returnString('value-ü', 8, 12);
    expect(memory.buffer.byteLength).toBe(2 * PAGE);
    expect(new TextDecoder().decode(returned(8, 12))).toBe('value-ü');

    const map = new HeaderMap([['x-a', '1'], ['x-long', 'z'.repeat(40)], ['x-utf8', 'ünï']]);
    guest.returnPairs(map, 8, 12);
    expect(memory.buffer.byteLength).toBe(3 * PAGE);
    expect(parsePairs(returned(8, 12))).toEqual(map.toList());
  });
});
