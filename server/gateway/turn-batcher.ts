// Work handed in during one event-loop turn, run together at its end (setImmediate). Each owner (a proxy handler,
// a benchmark) holds its batchers: no state is shared between gateways of one process.

export class TurnBatcher<T> {
  private pending: T[] = [];
  private isScheduled = false;
  private readonly runPending = (): void => this.runNow();

  /** `run` gets every item added since the last run, in arrival order. */
  constructor(private readonly run: (batch: T[]) => void) {}

  add(item: T): void {
    this.pending.push(item);
    if (!this.isScheduled) {
      this.isScheduled = true;
      setImmediate(this.runPending);
    }
  }

  /** Runs what is pending now (also what the scheduled run does). */
  runNow(): void {
    this.isScheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.run(batch);
  }
}
