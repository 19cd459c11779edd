// The live streams of one VM by context id (proxy_set_effective_context, http call responses). Context ids are
// handed out in sequence and streams end roughly in order, so a slot array indexed by the id's low bits holds
// almost every stream: no hash table insert and delete per request. A stream whose slot is taken (more than
// SLOTS streams alive at once, or a long-lived one) goes to an overflow map.
import type { StreamState } from './stream-state.ts';

const SLOTS = 1024;

export class LiveStreams {
  private readonly slots: (StreamState | null)[] = new Array<StreamState | null>(SLOTS).fill(null);
  private readonly overflow = new Map<number, StreamState>();

  set(contextId: number, state: StreamState): void {
    const slot = contextId & (SLOTS - 1);
    const current = this.slots[slot];
    if (current === null || current === undefined || current.contextId === contextId) this.slots[slot] = state;
    else this.overflow.set(contextId, state);
  }

  get(contextId: number): StreamState | undefined {
    const state = this.slots[contextId & (SLOTS - 1)];
    if (state !== null && state !== undefined && state.contextId === contextId) return state;
    return this.overflow.size === 0 ? undefined : this.overflow.get(contextId);
  }

  delete(contextId: number): void {
    const slot = contextId & (SLOTS - 1);
    const state = this.slots[slot];
    if (state !== null && state !== undefined && state.contextId === contextId) this.slots[slot] = null;
    else if (this.overflow.size > 0) this.overflow.delete(contextId);
  }
}
