import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../server/gateway/clusters.ts';
import { EndpointHealth } from '../../../server/gateway/endpoint-health.ts';
import { OutlierDetector, readOutlierDetection } from '../../../server/gateway/outlier-detector.ts';

const endpoint = (port: number): Endpoint => ({ address: '127.0.0.1', port, hostname: undefined, weight: 1 });

function setup(outlierDetection: Record<string, unknown>, count = 4) {
  const endpoints = Array.from({ length: count }, (_, i) => endpoint(8000 + i));
  const health = new EndpointHealth(endpoints, 0);
  let now = 0;
  const spec = readOutlierDetection({ outlierDetection }, 'cluster')!;
  const detector = new OutlierDetector(spec, health, () => now);
  return { endpoints, health, detector, advance: (ms: number) => { now += ms; } };
}

describe('OutlierDetector', () => {
  it('ejects after consecutive 5xx and not when a success breaks the run', () => {
    const { endpoints: [a], health, detector } = setup({ consecutive5xx: 3 });
    detector.recordStatus(a!, 500);
    detector.recordStatus(a!, 502);
    detector.recordStatus(a!, 200);
    detector.recordStatus(a!, 500);
    detector.recordStatus(a!, 500);
    expect(health.isHealthy(a!)).toBe(true);
    detector.recordStatus(a!, 503);
    expect(health.isHealthy(a!)).toBe(false);
  });

  it('counts connect failures as gateway failures when that detector is enforced (Envoy leaves it unenforced by default)', () => {
    const unenforced = setup({ consecutive5xx: 100, consecutiveGatewayFailure: 2 });
    unenforced.detector.recordLocalFailure(unenforced.endpoints[0]!);
    unenforced.detector.recordLocalFailure(unenforced.endpoints[0]!);
    expect(unenforced.health.isHealthy(unenforced.endpoints[0]!)).toBe(true);
    const enforced = setup({ consecutive5xx: 100, consecutiveGatewayFailure: 2, enforcingConsecutiveGatewayFailure: 100 });
    enforced.detector.recordLocalFailure(enforced.endpoints[0]!);
    enforced.detector.recordLocalFailure(enforced.endpoints[0]!);
    expect(enforced.health.isHealthy(enforced.endpoints[0]!)).toBe(false);
  });

  it('ejects at least one endpoint but never more than maxEjectionPercent', () => {
    const { endpoints, health, detector } = setup({ consecutive5xx: 1, maxEjectionPercent: 10 });
    for (const e of endpoints) detector.recordStatus(e, 500);
    expect(endpoints.filter((e) => !health.isHealthy(e))).toHaveLength(1);
  });

  it('takes an endpoint back at the first sweep after base_ejection_time × times ejected', () => {
    const { endpoints: [a], health, detector, advance } = setup({ consecutive5xx: 1, baseEjectionTime: '10s', interval: '1s' });
    detector.recordStatus(a!, 500);
    advance(9_999);
    detector.sweep();
    expect(health.isHealthy(a!)).toBe(false);
    advance(1);
    detector.sweep();
    expect(health.isHealthy(a!)).toBe(true);
    // Second ejection right away: twice as long.
    detector.recordStatus(a!, 500);
    advance(10_000);
    detector.sweep();
    expect(health.isHealthy(a!)).toBe(false);
    advance(10_000);
    detector.sweep();
    expect(health.isHealthy(a!)).toBe(true);
  });
});
