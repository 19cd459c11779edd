// A gateway worker thread: its own data plane (module instances, upstream pools, configuration holder) listening on
// its own descriptor of the shared traffic socket, as an Envoy worker runs its own filter instances. Configuration
// arrives from the main thread in two phases (prepare, then commit or discard), so that a snapshot one worker
// refuses is served by none.
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import type { Snapshot } from '../../envoy/resources.ts';
import { createDataPlane, createTrafficServer } from '../data-plane.ts';
import { createTracing } from '../../telemetry/tracing.ts';
import { SharedMemoryData } from '../proxy-wasm/shared-memory-data.ts';
import type { RuntimeConfig } from '../runtime-config.ts';
import type { GatewayRequestRecord } from '../telemetry.ts';
import type { MainRequest, WorkerInit, WorkerMessage, WorkerReply } from './messages.ts';
import { RecordBatcher } from './record-batcher.ts';

if (parentPort === null) throw new Error('gateway-worker.ts runs as a worker thread');
const port = parentPort;
const init = workerData as WorkerInit;
const post = (message: WorkerMessage): void => port.postMessage(message);

// Lines go to the main thread's logger (its destination and redaction), not to this thread's stdout.
const logger = pino({ level: init.logLevel, base: { worker: init.index } }, {
  write: (line: string) => post({ type: 'log', line }),
});
const records = init.wantsRecords ? new RecordBatcher((batch) => post({ type: 'records', records: batch })) : null;
const tracing = createTracing(init.tracing);
const plane = createDataPlane({
  logger,
  tracer: tracing?.tracer,
  listenerName: init.listenerName,
  sharedData: SharedMemoryData.attach(init.sharedData),
  ...(records === null ? {} : { onRequestComplete: (record: GatewayRequestRecord) => records.add(record) }),
});

const server = createTrafficServer(plane);
const prepared = new Map<number, RuntimeConfig>();

async function handle(request: MainRequest): Promise<WorkerReply> {
  switch (request.type) {
    case 'prepare':
      prepared.set(request.id, await plane.build(request.snapshot));
      return { type: 'reply', id: request.id, ok: true };
    case 'commit':
    case 'discard': {
      const config = prepared.get(request.prepared);
      if (config === undefined) throw new Error(`no configuration prepared as ${request.prepared}`);
      prepared.delete(request.prepared);
      if (request.type === 'commit') plane.commit(config);
      else plane.discard(config);
      return { type: 'reply', id: request.id, ok: true };
    }
    case 'metrics':
      return { type: 'reply', id: request.id, ok: true, metrics: plane.metrics.state() };
    case 'flush-records':
      records?.flush();
      return { type: 'reply', id: request.id, ok: true };
    case 'close':
      await server.close();
      records?.flush();
      plane.close();
      await tracing?.shutdown();
      return { type: 'reply', id: request.id, ok: true };
  }
}

port.on('message', (request: MainRequest) => {
  handle(request).then(post, (error: unknown) => {
    post({ type: 'reply', id: request.id, ok: false, error: error instanceof Error ? error.message : String(error) });
  });
});

async function start(snapshot: Snapshot | null): Promise<void> {
  // Serve the gateway's configuration before taking connections: a restarted worker never answers 404 meanwhile.
  if (snapshot !== null) {
    try {
      plane.commit(await plane.build(snapshot));
    } catch {
      // Logged by build; served without configuration until the next snapshot, as a gateway's first start.
    }
  }
  post({ type: 'adopting' });
  await server.listen({ fd: init.fd });
  post({ type: 'started', version: plane.current?.version ?? null });
}

await start(init.snapshot);
