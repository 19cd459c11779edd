import { describe, expect, it } from 'vitest';
import { recordFromAccessLogEntry } from '../../../server/analytics/als-entry.ts';

describe('recordFromAccessLogEntry', () => {
  const receivedAt = Date.UTC(2026, 0, 1, 12, 5, 0);

  it('takes the API handle from the route name, the status and its details, start time, duration and identity headers', () => {
    const record = recordFromAccessLogEntry(
      {
        common_properties: {
          route_name: 'reading-list-api-v1.0/GET/books/{id}',
          start_time: { seconds: 1_767_268_800, nanos: 250_000_000 },
          duration: { seconds: 0, nanos: 12_500_000 },
          time_to_last_downstream_tx_byte: { seconds: 1, nanos: 0 },
        },
        request: { request_headers: { 'x-apip-application-id': 'app_1', 'x-apip-plan': 'plan_1' } },
        response: { response_code: { value: 401 }, response_code_details: 'apip_jwt_invalid' },
      },
      receivedAt,
    );
    expect(record).toEqual({
      startedAt: 1_767_268_800_250,
      api: 'reading-list-api-v1.0',
      status: 401,
      durationMs: 12.5,
      applicationId: 'app_1',
      plan: 'plan_1',
      // What the control plane reacts to (a token no key verifies: the JWKS is fetched again).
      details: 'apip_jwt_invalid',
    });
  });

  it('falls back to the time to the last downstream byte when Envoy sends no duration', () => {
    const record = recordFromAccessLogEntry(
      { common_properties: { route_name: 'a/GET/x', time_to_last_downstream_tx_byte: { seconds: '2', nanos: 1_000_000 } } },
      receivedAt,
    );
    expect(record.durationMs).toBe(2001);
  });

  it('reports no API for an entry without a route name, and no application or plan without the headers', () => {
    expect(recordFromAccessLogEntry({ response: { response_code: { value: 404 } } }, receivedAt)).toEqual({
      startedAt: receivedAt,
      api: null,
      status: 404,
      durationMs: 0,
      applicationId: null,
      plan: null,
      details: null,
    });
  });

  it('reads status 0 when no response was sent', () => {
    expect(recordFromAccessLogEntry({ common_properties: { route_name: 'a/GET/x' } }, receivedAt).status).toBe(0);
  });
});
