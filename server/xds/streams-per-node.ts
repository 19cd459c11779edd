/**
 * Counts open streams per data-plane identity, so one identity (a leaked certificate, a reconnect loop) cannot make
 * the control plane hold unbounded streams. One instance per gRPC service: an Envoy opens one ADS stream, and one
 * access-log stream per worker thread.
 */
export class StreamsPerNode {
  private readonly open = new Map<string, number>();

  constructor(readonly max: number) {}

  /** A release function when the identity is under its maximum, else null (the caller refuses the stream). */
  acquire(nodeId: string): (() => void) | null {
    const count = this.open.get(nodeId) ?? 0;
    if (count >= this.max) return null;
    this.open.set(nodeId, count + 1);
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      const left = (this.open.get(nodeId) ?? 1) - 1;
      if (left === 0) this.open.delete(nodeId);
      else this.open.set(nodeId, left);
    };
  }
}
