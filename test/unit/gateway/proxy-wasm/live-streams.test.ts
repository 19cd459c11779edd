import { describe, expect, it } from 'vitest';
import { LiveStreams } from '../../../../server/gateway/proxy-wasm/live-streams.ts';
import { StreamState } from '../../../../server/gateway/proxy-wasm/stream-state.ts';

const state = (contextId: number): StreamState => new StreamState(contextId, null, {}, 0n);

describe('LiveStreams', () => {
  it('finds every live stream by context id, also when two ids share a slot', () => {
    const streams = new LiveStreams();
    const ids = [2, 3, 1026, 2050, 5000];
    const states = ids.map(state);
    ids.forEach((id, i) => streams.set(id, states[i] as StreamState));
    ids.forEach((id, i) => expect(streams.get(id)).toBe(states[i]));
    expect(streams.get(4)).toBeUndefined();
    streams.delete(2);
    expect(streams.get(2)).toBeUndefined();
    expect(streams.get(1026)).toBe(states[2]);
    streams.delete(1026);
    expect(streams.get(1026)).toBeUndefined();
    expect(streams.get(2050)).toBe(states[3]);
  });

  it('does not answer for an id whose slot now holds another stream', () => {
    const streams = new LiveStreams();
    streams.set(7, state(7));
    streams.delete(7);
    streams.set(1031, state(1031));
    expect(streams.get(7)).toBeUndefined();
    expect(streams.get(1031)?.contextId).toBe(1031);
  });
});
