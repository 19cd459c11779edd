// Minimal proxy shared queues: named per VM id, resolved across VMs, FIFO; the registering plugin is told with
// proxy_on_queue_ready when an item arrives.

interface Queue {
  items: Uint8Array[];
  onReady: ((queueId: number) => void) | undefined;
}

export class SharedQueues {
  private readonly byId = new Map<number, Queue>();
  private readonly idsByName = new Map<string, number>();
  private nextId = 1;

  register(vmId: string, name: string, onReady: (queueId: number) => void): number {
    const key = `${vmId}\0${name}`;
    const existing = this.idsByName.get(key);
    if (existing !== undefined) {
      const queue = this.byId.get(existing);
      if (queue) queue.onReady = onReady;
      return existing;
    }
    const id = this.nextId++;
    this.byId.set(id, { items: [], onReady });
    this.idsByName.set(key, id);
    return id;
  }

  resolve(vmId: string, name: string): number | undefined {
    return this.idsByName.get(`${vmId}\0${name}`);
  }

  enqueue(queueId: number, data: Uint8Array): boolean {
    const queue = this.byId.get(queueId);
    if (!queue) return false;
    queue.items.push(data.slice());
    const notify = queue.onReady;
    if (notify) queueMicrotask(() => notify(queueId));
    return true;
  }

  /** undefined: no such queue; null: empty. */
  dequeue(queueId: number): Uint8Array | null | undefined {
    const queue = this.byId.get(queueId);
    if (!queue) return undefined;
    return queue.items.shift() ?? null;
  }
}

/** Queues are process-wide like Envoy's (per VM id namespace inside). */
export const processSharedQueues = new SharedQueues();
