// A mutex in one Int32 of a SharedArrayBuffer, for threads of one process (Drepper, "Futexes Are Tricky", mutex 2):
// 0 free, 1 held, 2 held with sleepers. Critical sections are a few hundred nanoseconds, so a waiter spins briefly
// on the word before it sleeps in Atomics.wait, and unlock only pays for Atomics.notify when someone sleeps.
const SPINS = 64;

export class SharedMemoryLock {
  constructor(
    private readonly words: Int32Array,
    private readonly index: number,
  ) {}

  lock(): void {
    const { words, index } = this;
    if (Atomics.compareExchange(words, index, 0, 1) === 0) return;
    for (let spin = 0; spin < SPINS; spin++) {
      if (Atomics.load(words, index) === 0 && Atomics.compareExchange(words, index, 0, 1) === 0) return;
    }
    // Mark the word contended (2) before sleeping, so the holder's unlock wakes someone.
    while (Atomics.exchange(words, index, 2) !== 0) Atomics.wait(words, index, 2);
  }

  unlock(): void {
    if (Atomics.sub(this.words, this.index, 1) !== 1) {
      Atomics.store(this.words, this.index, 0);
      Atomics.notify(this.words, this.index, 1);
    }
  }
}
