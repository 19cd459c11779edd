// Memory shared with the host. The host returns data by calling our allocator and writing the buffer's
// address and size into two return slots; `takeReturned` adopts that buffer without copying.

// Static return slots (no allocation per host call).
export const RETURN_PTR: usize = memory.data(8);
export const RETURN_SIZE: usize = memory.data(8);
export const RETURN_U32: usize = memory.data(8);
export const RETURN_U64: usize = memory.data(8);

/**
 * The allocator the host calls (`proxy_on_memory_allocate`, and the deprecated `malloc` for older hosts).
 * The buffer is a pinned ArrayBuffer so the GC keeps it until `takeReturned` adopts it.
 */
export function allocate(size: usize): usize {
  const buffer = new ArrayBuffer(<i32>size);
  return __pin(changetype<usize>(buffer));
}

/** Adopts the buffer the host just returned through RETURN_PTR / RETURN_SIZE. */
export function takeReturned(): ArrayBuffer {
  const ptr = load<usize>(RETURN_PTR);
  const size = load<usize>(RETURN_SIZE);
  if (ptr == 0 || size == 0) {
    if (ptr != 0) __unpin(ptr);
    return new ArrayBuffer(0);
  }
  const buffer = changetype<ArrayBuffer>(ptr);
  __unpin(ptr);
  return buffer;
}

/** Resets the return slots before a host call, so a host that writes nothing yields an empty result. */
@inline
export function clearReturn(): void {
  store<usize>(RETURN_PTR, 0);
  store<usize>(RETURN_SIZE, 0);
}
