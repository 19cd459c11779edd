// The embedded data plane: serves HTTP traffic with the configuration of the latest snapshot that could be
// built, from any SnapshotSource (the ADS server in-process, or an ADS client of a remote control plane). When
// the source stops producing, the last configuration keeps serving. With `workers` > 0 the traffic runs on worker
// threads (workers/); this thread then keeps only the source, the admin port and the aggregation.
import type { Snapshot } from '../envoy/resources.ts';
import { createDataPlane, createTrafficServer } from './data-plane.ts';
import type { Gateway, GatewayOptions } from './gateway-types.ts';
import { followSource } from './follow-source.ts';
import { closeServer, listenAdmin } from './listen.ts';
import { createWorkerGateway } from './workers/worker-gateway.ts';

export type { Gateway, GatewayOptions } from './gateway-types.ts';
export type { GatewayRequestRecord } from './telemetry.ts';

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const workers = options.workers ?? 0;
  if (!Number.isInteger(workers) || workers < 0) throw new Error(`workers must be a non-negative integer, got ${String(options.workers)}`);
  if (workers === 0) return createInThreadGateway(options);
  for (const name of ['httpCall', 'fetchModule', 'random'] as const) {
    if (options[name] !== undefined) throw new Error(`${name} cannot be used with workers > 0 (a function cannot cross threads); use workers: 0`);
  }
  return createWorkerGateway({ ...options, workers });
}

async function createInThreadGateway(options: GatewayOptions): Promise<Gateway> {
  const logger = options.logger.child({ component: 'gateway' });
  const host = options.host ?? '127.0.0.1';
  const plane = createDataPlane({
    logger, httpCall: options.httpCall, fetchModule: options.fetchModule, random: options.random,
    listenerName: options.listenerName, onRequestComplete: options.onRequestComplete, tracer: options.tracer,
  });

  // Builds run one at a time, in arrival order: each builds on the previous configuration (plugin reuse).
  let queue: Promise<unknown> = Promise.resolve();
  let isClosed = false;
  const apply = (snapshot: Snapshot): Promise<void> => {
    const run = queue.then(async () => {
      if (isClosed) return;
      plane.commit(await plane.build(snapshot));
    });
    queue = run.catch(() => undefined);
    return run;
  };

  const server = createTrafficServer(plane);
  const port = await server.listen({ port: options.port, host });
  const admin = await listenAdmin(options, () => plane.metrics.render(), () => plane.current !== null);

  const unsubscribe = await followSource(options.source, apply);
  logger.info({ port, adminPort: admin?.port ?? null }, 'gateway listening');

  return {
    port,
    adminPort: admin?.port ?? null,
    get version() { return plane.current?.version ?? null; },
    apply,
    flushRecords: () => Promise.resolve(),
    close: async () => {
      isClosed = true;
      unsubscribe();
      await Promise.all([server.close(), admin === null ? Promise.resolve() : closeServer(admin.server)]);
      await queue;
      plane.close();
    },
  };
}
