// The allocator of SharedMemoryData's buffer: blocks of 32 << c bytes (size class c, 32 B … 1 GiB), each
// [i32 class][i32 next free][payload], one free list per class. A class with no free block takes one from the arena
// top, else splits a free block of a larger class (halves go onto the smaller classes' lists); blocks are not merged
// back, so space freed by one size is reused by that size or smaller. The caller holds the buffer's lock.
const CLASSES = 26;
const MIN_BLOCK = 32;
const BLOCK_HEADER = 8;

// Words from `at`: the arena top, its end, then the CLASSES free-list heads (0: empty).
const TOP = 0;
const END = 1;
const FREE = 2;

/** Int32 words the arena's state takes in the buffer's header. */
export const ARENA_STATE_WORDS = FREE + CLASSES;

export class SharedMemoryArena {
  constructor(
    private readonly words: Int32Array,
    private readonly at: number,
  ) {}

  /** Sets up an empty arena over bytes [start, end) (start 8-aligned). */
  init(start: number, end: number): void {
    this.words[this.at + TOP] = start;
    this.words[this.at + END] = end;
  }

  /** A block whose payload holds `length` bytes: the payload's offset (8-aligned), 0 when none fits. */
  allocate(length: number): number {
    const need = length + BLOCK_HEADER;
    let wanted = 0;
    while (MIN_BLOCK << wanted < need) {
      wanted += 1;
      if (wanted >= CLASSES) return 0;
    }
    const { words, at } = this;
    const free = words[at + FREE + wanted]!;
    if (free !== 0) {
      words[at + FREE + wanted] = words[(free + 4) >> 2]!;
      return free + BLOCK_HEADER;
    }
    const size = MIN_BLOCK << wanted;
    const top = words[at + TOP]!;
    if (top + size <= words[at + END]!) {
      words[at + TOP] = top + size;
      words[top >> 2] = wanted;
      return top + BLOCK_HEADER;
    }
    for (let larger = wanted + 1; larger < CLASSES; larger++) {
      const block = words[at + FREE + larger]!;
      if (block === 0) continue;
      words[at + FREE + larger] = words[(block + 4) >> 2]!;
      // Keep the first half, free the second, until the block is of the wanted class.
      for (let c = larger - 1; c >= wanted; c--) this.release(block + (MIN_BLOCK << c), c);
      words[block >> 2] = wanted;
      return block + BLOCK_HEADER;
    }
    return 0;
  }

  /** Returns the block of payload `payload` to its class's free list. */
  free(payload: number): void {
    const block = payload - BLOCK_HEADER;
    this.release(block, this.words[block >> 2]!);
  }

  /** Bytes the payload at `payload` can hold. */
  capacity(payload: number): number {
    return (MIN_BLOCK << this.words[(payload - BLOCK_HEADER) >> 2]!) - BLOCK_HEADER;
  }

  private release(block: number, sizeClass: number): void {
    const { words, at } = this;
    words[block >> 2] = sizeClass;
    words[(block + 4) >> 2] = words[at + FREE + sizeClass]!;
    words[at + FREE + sizeClass] = block;
  }
}
