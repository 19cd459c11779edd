import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../helpers/database.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { createApi, createPlan, expectedIdentity, expectServedConfigValid, identityOf, newSubscriber, replyOf, sendThrough, waitServed } from '../helpers/plans-traffic.ts';
import { gatewayAnswers, rawId, type Recorder, startRecorder } from '../helpers/traffic.ts';

// Seed 001: "A Gold plan with a rate limiting policy that restricts consumers to 10.000 requests per day, a Silver
// plan 1.000, a Bronze plan 100." Scaled to a test: 10 / 5 / 3 requests per hour (an hour rather than a minute so
// that a run never straddles a window boundary, where a sliding window weighs the previous window's count).
const tiers = [
  { name: 'Gold', limit: 10 },
  { name: 'Silver', limit: 5 },
  { name: 'Bronze', limit: 3 },
] as const;
type Tier = (typeof tiers)[number]['name'];

describe.each(shapeDrivers)('traffic: Gold, Silver and Bronze plans of one API (%s)', (driver) => {
  const path = '/acme/v1/items';
  let t: TestPlatform;
  let upstream: Recorder;
  let gw: number;
  const plans = {} as Record<Tier, string>;
  const subscribers = {} as Record<Tier, Awaited<ReturnType<typeof newSubscriber>>>;
  /** What the upstream received for each tier's first admitted request. */
  const firstSeen = {} as Record<Tier, Recorder['received'][number]>;
  /** Requests each application has had admitted so far. */
  const used: Record<Tier, number> = { Gold: 0, Silver: 0, Bronze: 0 };

  beforeAll(async () => {
    upstream = await startRecorder('acme-upstream');
    t = await startTestPlatform(driver);
    gw = t.platform.ports.gateway ?? 0;
    const apiId = await createApi(t, `acme-api-${driver}`, { context: '/acme/$version', upstreamUrl: upstream.url });
    for (const tier of tiers) {
      plans[tier.name] = await createPlan(t, apiId, tier.name, { type: 'API_KEY' }, {
        policies: [
          { name: 'throttle', version: 'v1', params: { limits: [{ requests: tier.limit, duration: '1h' }] } },
          // A plan is a set of policies: each tier also tells the upstream which tier it is.
          { name: 'set-headers', version: 'v1', params: { request: { headers: [{ name: 'x-service-tier', value: tier.name.toLowerCase() }] } } },
        ],
      });
    }
    await waitServed(t, gw, path, 401);
    for (const tier of tiers) {
      subscribers[tier.name] = await newSubscriber(t, `${tier.name.toLowerCase()}-app`, plans[tier.name]);
      // 401s while the key is not yet served are not counted; the first 200 is request 1 of the quota.
      await gatewayAnswers(gw, path, 200, { headers: { 'x-api-key': subscribers[tier.name].key! } });
      firstSeen[tier.name] = upstream.last();
      used[tier.name] = 1;
    }
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  const call = (tier: Tier) => sendThrough(gw, upstream, path, { headers: { 'x-api-key': subscribers[tier].key! } });

  /** Spends what is left of a tier's quota (each request admitted with that tier's identity), then expects 429. */
  async function exhaust(tier: Tier): Promise<void> {
    const limit = tiers.find((x) => x.name === tier)!.limit;
    while (used[tier] < limit) {
      const { answer, seen } = await call(tier);
      expect({ tier, n: used[tier] + 1, status: answer.status }).toEqual({ tier, n: used[tier] + 1, status: 200 });
      expect(identityOf(seen[0]!.headers)).toEqual(expectedIdentity(subscribers[tier].applicationId, subscribers[tier].id, plans[tier]));
      expect(answer.headers['ratelimit-limit']).toBe(String(limit));
      used[tier]++;
    }
    const { answer, seen } = await call(tier);
    expect(replyOf(answer)).toEqual({ status: 429, body: { status: 'error', message: 'Rate limit exceeded.' } });
    expect(answer.headers['ratelimit-limit']).toBe(String(limit));
    expect(answer.headers['ratelimit-remaining']).toBe('0');
    expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(seen).toEqual([]);
  }

  it('runs each plan’s own set-headers plan policy for the requests it admits', () => {
    for (const tier of tiers) {
      const seen = firstSeen[tier.name];
      expect({ tier: tier.name, header: seen.headers['x-service-tier'], plan: seen.headers['x-apip-plan'] })
        .toEqual({ tier: tier.name, header: tier.name.toLowerCase(), plan: rawId(plans[tier.name]) });
    }
  });

  it('cuts Bronze off after exactly 3 requests while Silver and Gold still pass', async () => {
    await exhaust('Bronze');
    for (const tier of ['Silver', 'Gold'] as const) {
      const { answer, seen } = await call(tier);
      expect({ tier, status: answer.status }).toEqual({ tier, status: 200 });
      expect(seen[0]!.headers['x-apip-plan']).toBe(rawId(plans[tier]));
      used[tier]++;
    }
  });

  it('cuts Silver off after exactly 5 requests while Gold still passes and Bronze stays cut off', async () => {
    await exhaust('Silver');
    expect((await call('Bronze')).answer.status).toBe(429);
    const gold = await call('Gold');
    expect(gold.answer.status).toBe(200);
    used.Gold++;
  });

  it('cuts Gold off after exactly 10 requests', async () => {
    await exhaust('Gold');
    expect((await call('Silver')).answer.status).toBe(429);
    expect((await call('Bronze')).answer.status).toBe(429);
  });

  it('passes the strict Envoy proto check with the three plan quotas served', async () => {
    await expectServedConfigValid(t, [`acme-api-${driver}`], tiers.map((x) => rawId(plans[x.name])));
  });
});
