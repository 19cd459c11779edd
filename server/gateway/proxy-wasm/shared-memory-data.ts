// Proxy shared data in one SharedArrayBuffer, so that every worker thread of a data plane sees the same store per VM
// id, as every worker of one Envoy does (cpp-host src/shared_data.h: one process-wide map behind a mutex). The
// semantics are InMemorySharedData's (shared-data.ts); only the storage differs.
//
// Layout (byte offsets; every record 8-aligned):
//   header   HEADER_BYTES: magic, lock word, next CAS token, bucket table, VM list, the arena's top and free lists
//   buckets  one i32 per bucket: offset of the first entry of its chain (0: empty)
//   arena    blocks of power-of-two sizes (shared-memory-arena.ts)
// An entry (one key of one VM id) is allocated once and never moves, so each thread caches key -> entry offset; its
// value lives in a separate block that is rewritten in place while it fits and otherwise swapped for a block of the
// right size, the old one going back to the arena (a counter rewritten on every request never leaks).
// Every read and write of the buffer happens under the lock (shared-memory-lock.ts), so nothing is read torn.
import { Status } from './abi.ts';
import { ARENA_STATE_WORDS, SharedMemoryArena } from './shared-memory-arena.ts';
import { SharedMemoryLock } from './shared-memory-lock.ts';
import type { SharedDataStore, SharedDataStores, SharedValue } from './shared-data.ts';

const MAGIC = 0x53_48_44_31; // "SHD1"
const DEFAULT_BYTES = 64 * 1024 * 1024;
const MIN_BYTES = 64 * 1024;
/** Offsets are i32. */
const MAX_BYTES = 0x7fff_fff8;

// Header words (i32 indexes).
const H_MAGIC = 0;
const H_LOCK = 1;
const H_NEXT_CAS = 2;
const H_BUCKETS = 3;
const H_BUCKETS_AT = 4;
const H_VM_HEAD = 5;
const H_VM_COUNT = 6;
const H_ARENA = 7; // ARENA_STATE_WORDS
const HEADER_BYTES = 256;
if ((H_ARENA + ARENA_STATE_WORDS) * 4 > HEADER_BYTES) throw new Error('shared data: header layout overflows');

// Entry payload, byte offsets from the payload start.
const E_NEXT = 0;
const E_VM = 4;
const E_HASH = 8;
const E_CAS = 12;
const E_VALUE = 16;
const E_LENGTH = 20;
const E_KEY_LENGTH = 24;
const E_KEY = 28;

// VM id record payload.
const V_NEXT = 0;
const V_NUMBER = 4;
const V_LENGTH = 8;
const V_ID = 12;

/** Keys whose encoding and entry a store remembers; past it the cache starts over (keys built per request). */
const KEY_CACHE_LIMIT = 4096;

const encoder = new TextEncoder();

/**
 * The shared data of one data plane in a SharedArrayBuffer: `create` it once, hand `buffer` to each worker
 * (workerData or postMessage) and `attach` there; `forVm` behaves as SharedDataRegistry.forVm.
 *
 * Limit: the buffer's size, fixed at creation (`create({ bytes })`, default 64 MiB, at most 2 GiB − 8). A value takes
 * the next power of two of its length + 8 bytes (at least 32), a key's entry likewise for its UTF-8 length + 36,
 * and there is a bucket table of bytes / 512 × 4 bytes. When no block fits, a set answers Status.InternalFailure
 * and writes nothing (the throttle and quota modules then refuse the request); nothing is logged, the modules' own
 * denials are what show it. Raise it by passing a larger `bytes` where the data plane creates its store.
 */
export class SharedMemoryData implements SharedDataStores {
  readonly buffer: SharedArrayBuffer;
  /** @internal */ readonly words: Int32Array;
  /** @internal */ readonly unsigned: Uint32Array;
  /** @internal */ readonly bytes: Uint8Array;
  /** @internal */ readonly lock: SharedMemoryLock;
  /** @internal */ readonly arena: SharedMemoryArena;
  private readonly storesByVmId = new Map<string, SharedMemoryStore>();

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    this.unsigned = new Uint32Array(buffer);
    this.bytes = new Uint8Array(buffer);
    this.lock = new SharedMemoryLock(this.words, H_LOCK);
    this.arena = new SharedMemoryArena(this.words, H_ARENA);
  }

  /** A new store in a SharedArrayBuffer of `bytes` (default 64 MiB). */
  static create(options: { bytes?: number } = {}): SharedMemoryData {
    const bytes = options.bytes ?? DEFAULT_BYTES;
    if (!Number.isInteger(bytes) || bytes < MIN_BYTES || bytes > MAX_BYTES) {
      throw new RangeError(`shared data: bytes must be an integer from ${MIN_BYTES} to ${MAX_BYTES}, got ${bytes}`);
    }
    const size = bytes - (bytes % 8);
    const data = new SharedMemoryData(new SharedArrayBuffer(size));
    const buckets = Math.min(1 << 20, Math.max(256, 2 ** Math.floor(Math.log2(size / 512))));
    const words = data.words;
    words[H_NEXT_CAS] = 1;
    words[H_BUCKETS] = buckets;
    words[H_BUCKETS_AT] = HEADER_BYTES;
    data.arena.init(HEADER_BYTES + buckets * 4, size);
    Atomics.store(words, H_MAGIC, MAGIC);
    return data;
  }

  /** The same store seen from another thread (the buffer came through workerData/postMessage). */
  static attach(buffer: SharedArrayBuffer): SharedMemoryData {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < MIN_BYTES) {
      throw new TypeError('shared data: attach needs the buffer of SharedMemoryData.create');
    }
    const data = new SharedMemoryData(buffer);
    if (Atomics.load(data.words, H_MAGIC) !== MAGIC) throw new TypeError('shared data: the buffer is not a SharedMemoryData store');
    return data;
  }

  forVm(vmId: string): SharedDataStore {
    let store = this.storesByVmId.get(vmId);
    if (store === undefined) {
      store = new SharedMemoryStore(this, encoder.encode(vmId));
      this.storesByVmId.set(vmId, store);
    }
    return store;
  }

  // Everything below runs with the lock held.

  /** @internal Every write's token, from the one counter of the buffer: 1 … 2^32 − 1, then 1 again. */
  takeToken(): number {
    const token = this.unsigned[H_NEXT_CAS]!;
    this.unsigned[H_NEXT_CAS] = token >= 0xffff_ffff ? 1 : token + 1;
    return token;
  }

  /** @internal The number of VM id `id` (1, 2, …), registered when `create`; 0 when absent or no room. */
  vmNumber(id: Uint8Array, create: boolean): number {
    const { words, bytes } = this;
    for (let vm = words[H_VM_HEAD]!; vm !== 0; vm = words[(vm + V_NEXT) >> 2]!) {
      if (sameBytes(bytes, vm + V_ID, words[(vm + V_LENGTH) >> 2]!, id)) return words[(vm + V_NUMBER) >> 2]!;
    }
    if (!create) return 0;
    const vm = this.arena.allocate(V_ID + id.length);
    if (vm === 0) return 0;
    const number = words[H_VM_COUNT]! + 1;
    words[H_VM_COUNT] = number;
    words[(vm + V_NUMBER) >> 2] = number;
    words[(vm + V_LENGTH) >> 2] = id.length;
    bytes.set(id, vm + V_ID);
    words[(vm + V_NEXT) >> 2] = words[H_VM_HEAD]!;
    words[H_VM_HEAD] = vm;
    return number;
  }

  /** @internal The entry of `key` in VM `vm`, 0 when absent. */
  findEntry(vm: number, key: KeyRef): number {
    const { words, bytes } = this;
    const bucket = words[H_BUCKETS_AT]! + (bucketOf(key.hash, vm) & (words[H_BUCKETS]! - 1)) * 4;
    for (let entry = words[bucket >> 2]!; entry !== 0; entry = words[(entry + E_NEXT) >> 2]!) {
      if (
        words[(entry + E_VM) >> 2] === vm &&
        words[(entry + E_HASH) >> 2] === key.hash &&
        sameBytes(bytes, entry + E_KEY, words[(entry + E_KEY_LENGTH) >> 2]!, key.bytes)
      ) {
        return entry;
      }
    }
    return 0;
  }

  /** @internal A new entry of `key` in VM `vm` holding `value`, its offset; 0 (nothing kept) when there is no room. */
  insertEntry(vm: number, key: KeyRef, value: Uint8Array): number {
    const { words, bytes } = this;
    const block = this.arena.allocate(value.length);
    if (block === 0) return 0;
    const entry = this.arena.allocate(E_KEY + key.bytes.length);
    if (entry === 0) {
      this.arena.free(block);
      return 0;
    }
    bytes.set(value, block);
    words[(entry + E_VM) >> 2] = vm;
    words[(entry + E_HASH) >> 2] = key.hash;
    words[(entry + E_VALUE) >> 2] = block;
    words[(entry + E_LENGTH) >> 2] = value.length;
    words[(entry + E_KEY_LENGTH) >> 2] = key.bytes.length;
    bytes.set(key.bytes, entry + E_KEY);
    const bucket = (words[H_BUCKETS_AT]! + (bucketOf(key.hash, vm) & (words[H_BUCKETS]! - 1)) * 4) >> 2;
    words[(entry + E_NEXT) >> 2] = words[bucket]!;
    words[bucket] = entry;
    return entry;
  }
}

/** A key's UTF-8 bytes and hash, and its entry once known (entries never move). */
interface KeyRef {
  bytes: Uint8Array;
  hash: number;
  entry: number;
}

/** One VM id's view of the buffer, in one thread. */
class SharedMemoryStore implements SharedDataStore {
  private vm = 0;
  private readonly keys = new Map<string, KeyRef>();
  // get() copies into this scratch and hands out a view of it, valid until this store's next get.
  private scratch = new Uint8Array(64);
  private view = this.scratch.subarray(0, 0);
  private readonly result: SharedValue = { value: this.view, cas: 0 };

  constructor(
    private readonly data: SharedMemoryData,
    private readonly vmId: Uint8Array,
  ) {}

  get(key: string): SharedValue | undefined {
    const ref = this.keyRef(key);
    const data = this.data;
    data.lock.lock();
    try {
      if (ref.entry === 0) {
        if (this.vm === 0) this.vm = data.vmNumber(this.vmId, false);
        if (this.vm === 0) return undefined;
        ref.entry = data.findEntry(this.vm, ref);
        if (ref.entry === 0) return undefined;
      }
      const words = data.words;
      const entry = ref.entry;
      const block = words[(entry + E_VALUE) >> 2]!;
      const length = words[(entry + E_LENGTH) >> 2]!;
      this.result.cas = data.unsigned[(entry + E_CAS) >> 2]!;
      if (length > this.scratch.length) this.scratch = new Uint8Array(2 ** Math.ceil(Math.log2(length)));
      const bytes = data.bytes;
      const scratch = this.scratch;
      if (length <= 64) for (let i = 0; i < length; i++) scratch[i] = bytes[block + i]!;
      else scratch.set(bytes.subarray(block, block + length));
      if (this.view.length !== length || this.view.buffer !== scratch.buffer) this.view = scratch.subarray(0, length);
      this.result.value = this.view;
      return this.result;
    } finally {
      data.lock.unlock();
    }
  }

  set(key: string, value: Uint8Array, cas: number): number {
    const ref = this.keyRef(key);
    const data = this.data;
    data.lock.lock();
    try {
      if (this.vm === 0) this.vm = data.vmNumber(this.vmId, true);
      if (this.vm === 0) return Status.InternalFailure;
      if (ref.entry === 0) ref.entry = data.findEntry(this.vm, ref);
      const entry = ref.entry;
      if (entry === 0) {
        ref.entry = data.insertEntry(this.vm, ref, value);
        if (ref.entry === 0) return Status.InternalFailure;
        data.unsigned[(ref.entry + E_CAS) >> 2] = data.takeToken();
        return Status.Ok;
      }
      const words = data.words;
      if (cas !== 0 && data.unsigned[(entry + E_CAS) >> 2] !== cas) return Status.CasMismatch;
      let block = words[(entry + E_VALUE) >> 2]!;
      const capacity = data.arena.capacity(block);
      // In place when it fits and would not waste most of the block; a much smaller value moves to a smaller block
      // when one is free (else stays), so a value that shrank gives its space back.
      if (value.length > capacity || value.length * 4 + 32 < capacity) {
        const moved = data.arena.allocate(value.length);
        if (moved === 0 && value.length > capacity) return Status.InternalFailure;
        if (moved !== 0) {
          data.arena.free(block);
          block = moved;
          words[(entry + E_VALUE) >> 2] = block;
        }
      }
      const bytes = data.bytes;
      if (value.length <= 64) for (let i = 0; i < value.length; i++) bytes[block + i] = value[i]!;
      else bytes.set(value, block);
      words[(entry + E_LENGTH) >> 2] = value.length;
      data.unsigned[(entry + E_CAS) >> 2] = data.takeToken();
      return Status.Ok;
    } finally {
      data.lock.unlock();
    }
  }

  private keyRef(key: string): KeyRef {
    let ref = this.keys.get(key);
    if (ref === undefined) {
      if (this.keys.size >= KEY_CACHE_LIMIT) this.keys.clear();
      const bytes = encoder.encode(key);
      ref = { bytes, hash: fnv1a(bytes), entry: 0 };
      this.keys.set(key, ref);
    }
    return ref;
  }
}

/** FNV-1a, as an i32 (how the buffer's words read it back). */
function fnv1a(bytes: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash | 0;
}

/** The key's hash mixed with its VM number (murmur3's finaliser), to be masked to the bucket count. */
function bucketOf(hash: number, vm: number): number {
  let mixed = Math.imul(hash ^ Math.imul(vm, 0x9e3779b1), 0x85ebca6b);
  mixed ^= mixed >>> 13;
  mixed = Math.imul(mixed, 0xc2b2ae35);
  return (mixed ^ (mixed >>> 16)) >>> 0;
}

function sameBytes(bytes: Uint8Array, at: number, length: number, other: Uint8Array): boolean {
  if (length !== other.length) return false;
  for (let i = 0; i < length; i++) if (bytes[at + i] !== other[i]) return false;
  return true;
}
