/**
 * Translation time of the xDS translator (issue 5: <= 1 s for 10 000 APIs): a synthetic deployment model of
 * `BENCH_APIS` APIs (default 10 000) x 5 operations, each API with an API-level set-headers policy, every fifth
 * with api-key + throttle and an API_KEY plan with 10 keys; median of 5 runs after 2 warm-ups. Then the strict
 * proto check: once synchronously including loading Envoy's protos (publish-time cost, not translation), and as
 * the runner runs it (incremental and sliced, validate.ts) for a first, an unchanged and a one-API-changed
 * snapshot, with the longest event-loop block each time.
 * Run: `npx tsx bench/xds.ts`.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { policyKinds } from '../server/policies/index.ts';
import { translate } from '../server/xds/translate/translate.ts';
import { ValidationCache, validateResources, validateResourcesAsync } from '../server/xds/validate.ts';
import type { DeployedApi, DeployedKey, DeployedPlan, DeploymentModel } from '../server/domain/deployment-model.ts';

const apiCount = Number(process.env.BENCH_APIS ?? 10_000);
// Every module of this build is served (policies/build), as by the control plane.
const modules = Object.fromEntries(policyKinds.map((n) => [n, { sha256: 'f'.repeat(64) }]));

function syntheticModel(): DeploymentModel {
  const apis: DeployedApi[] = [];
  const plans: DeployedPlan[] = [];
  const keys: DeployedKey[] = [];
  for (let i = 0; i < apiCount; i++) {
    const id = `api_${i}`;
    const secured = i % 5 === 0;
    apis.push({
      id,
      handle: `api-${i}-v1.0`,
      version: 'v1.0',
      context: `/svc-${i}/$version`,
      upstream: { main: { url: `http://backend-${i % 100}.internal:8080/base`, ref: null, hostRewrite: null }, sandbox: null },
      upstreamDefinitions: [],
      vhosts: null,
      policies: [
        { name: 'set-headers', version: 'v1', executionCondition: null, params: { request: { headers: [{ name: 'x-api', value: String(i) }] } } },
        ...(secured
          ? [
              // The API_KEY plan below implies the api-key check; an attachment of its own would add v0.9 keys.
              { name: 'throttle', version: 'v1', executionCondition: null, params: { limits: [{ requests: 100, duration: '1m' }] } },
            ]
          : []),
      ],
      operations: [
        { method: 'GET', path: '/items', policies: [] },
        { method: 'POST', path: '/items', policies: [] },
        { method: 'GET', path: '/items/{id}', policies: [] },
        { method: 'PUT', path: '/items/{id}', policies: [] },
        { method: 'DELETE', path: '/items/{id}', policies: [] },
      ],
      subscriptionPlans: [],
      visibility: 'public',
      // Unsecured APIs are the v0.9 kind: open without plans.
      accessMode: secured ? 'PLANS' : 'OPEN',
    });
    if (secured) {
      plans.push({ id: `pln_${i}`, apiId: id, name: 'Gold', status: 'PUBLISHED', position: 0, policies: [], selectionRule: null, security: { type: 'API_KEY', apiKey: { keyLocation: 'HEADER', keyName: 'x-api-key', propagateKey: false }, jwt: null, oauth2: null } });
      for (let k = 0; k < 10; k++) {
        keys.push({ id: `key_${i}_${k}`, sha256: `${i}-${k}`.padStart(64, '0'), expiresAt: null, owner: 'subscription', applicationId: `app_${k}`, grants: [{ apiId: id, subscriptionId: `sub_${i}_${k}`, planId: `pln_${i}`, live: true }] });
      }
    }
  }
  return { apis, plans, subscriptions: [], keys, subscriptionPlans: [], jwks: {}, authorizationServers: [] };
}

const model = syntheticModel();
const options = { controlPlaneUrl: 'http://127.0.0.1:9090', listenerPort: 8080, modules, keyDigestSecret: '0123456789abcdef'.repeat(4) };
const times: number[] = [];
const cpuTimes: number[] = [];
let result = translate(model, options);
for (let run = 0; run < 7; run++) {
  const start = performance.now();
  const cpu = process.cpuUsage();
  result = translate(model, options);
  const used = process.cpuUsage(cpu);
  if (run >= 2) {
    times.push(performance.now() - start);
    cpuTimes.push((used.user + used.system) / 1000);
  }
}
times.sort((a, b) => a - b);
cpuTimes.sort((a, b) => a - b);
const routes = (result.resources.routeConfiguration[0]?.virtualHosts as { routes: unknown[] }[]).reduce((n, v) => n + v.routes.length, 0);
console.log(`xds translate: ${apiCount} APIs x 5 operations (${routes} routes, ${result.resources.cluster.length} clusters, ${result.problems.length} problems)`);
console.log(`  wall: median ${times[2]!.toFixed(0)} ms, min ${times[0]!.toFixed(0)} ms, max ${times[4]!.toFixed(0)} ms (target <= 1000 ms)`);
// CPU time (user + system, all threads incl. GC helpers) is steadier than wall time on a shared machine.
console.log(`  cpu:  median ${cpuTimes[2]!.toFixed(0)} ms, min ${cpuTimes[0]!.toFixed(0)} ms`);
const validateStart = performance.now();
const issues = validateResources(result.resources);
console.log(`  strict proto check: ${(performance.now() - validateStart).toFixed(0)} ms incl. loading Envoy's protos, ${issues.length} issues`);

/** Wall and CPU time of `work`, and the longest the event loop was held meanwhile (monitorEventLoopDelay max). */
async function blocking(label: string, work: () => unknown): Promise<void> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  // Let the histogram's timer start before the work, and fire once after it.
  await new Promise((resolve) => setTimeout(resolve, 5));
  const start = performance.now();
  const cpu = process.cpuUsage();
  const found = await work();
  const used = process.cpuUsage(cpu);
  const wall = performance.now() - start;
  await new Promise((resolve) => setTimeout(resolve, 5));
  histogram.disable();
  const issueCount = Array.isArray(found) ? found.length : 0;
  const units = `${validation.walked} units walked, ${validation.reused} reused`;
  console.log(`  ${label.padEnd(44)} wall ${wall.toFixed(0).padStart(5)} ms, cpu ${((used.user + used.system) / 1000).toFixed(0).padStart(5)} ms, event loop held <= ${(histogram.max / 1e6).toFixed(0).padStart(4)} ms (${issueCount} issues; ${units})`);
}

/** The same model with one API's upstream moved: its routes' rewrites and its cluster change. */
function withOneApiChanged(base: DeploymentModel): DeploymentModel {
  const [first, ...rest] = base.apis;
  const changed: DeployedApi = { ...first!, upstream: { ...first!.upstream, main: { ...first!.upstream.main, url: 'http://moved.internal:8081/v2' } } };
  return { ...base, apis: [changed, ...rest] };
}

// The runner's check (pipeline.ts): content-keyed cache, units checked in slices between event-loop turns.
const validation = new ValidationCache();
console.log('strict check as the runner runs it (10 ms slices, cache of the previous snapshot):');
const snapshots = [translate(model, options).resources, translate(model, options).resources, translate(withOneApiChanged(model), options).resources];
await blocking('full check, synchronous', () => validateResources(snapshots[0]!));
await blocking('first snapshot (empty cache)', () => validateResourcesAsync(snapshots[0]!, validation));
await blocking('unchanged catalogue (new translation)', () => validateResourcesAsync(snapshots[1]!, validation));
await blocking('one API changed', () => validateResourcesAsync(snapshots[2]!, validation));
