// The gateway with its traffic on worker threads (GatewayOptions.workers > 0), like Envoy's `--concurrency`: every
// worker accepts on the same socket and runs its own data plane; this thread keeps the snapshot source, the
// admin port, and adds up the workers' metrics and request records. A snapshot is prepared by every worker, then
// committed by all or discarded by all. A worker that dies is logged, counted and restarted with the
// configuration being served, while the others keep serving.
import type { Snapshot } from '../../envoy/resources.ts';
import { type ConfigCounters, type MetricsState, mergeMetricsStates, renderMetrics } from '../gateway-metrics.ts';
import type { Gateway, GatewayOptions } from '../gateway-types.ts';
import { SharedMemoryData } from '../proxy-wasm/shared-memory-data.ts';
import { followSource } from '../follow-source.ts';
import { closeServer, listenAdmin } from '../listen.ts';
import { SharedListenSocket } from './listen-socket.ts';
import type { WorkerEvent, WorkerInit } from './messages.ts';
import { WorkerExitedError, WorkerThread } from './worker-thread.ts';

interface Slot {
  readonly index: number;
  thread: WorkerThread | null;
  restarts: number;
  /** The counters of its current thread as last reported, and those of the threads before it. */
  metrics: MetricsState;
  retired: MetricsState[];
  startedAt: number;
  backoffMs: number;
}

const emptyMetrics = (): MetricsState => ({ requests: [], latency: [] });
const metricsTimeoutMs = 2_000;
/** A worker that lived this long before dying is restarted at once; one dying sooner waits, doubling to 5 s. */
const stableMs = 10_000;
const maxBackoffMs = 5_000;

/** Tests: ends a worker thread as a crash would. */
const killers = new WeakMap<Gateway, (index: number) => Promise<void>>();
export function killGatewayWorker(gateway: Gateway, index: number): Promise<void> {
  const kill = killers.get(gateway);
  if (kill === undefined) throw new Error('not a gateway with worker threads');
  return kill(index);
}

export async function createWorkerGateway(options: GatewayOptions & { workers: number }): Promise<Gateway> {
  const logger = options.logger.child({ component: 'gateway' });
  const onRequestComplete = options.onRequestComplete;
  const socket = await SharedListenSocket.bind(options.host ?? '127.0.0.1', options.port, options.workers);
  // Throttle and quota counters hold across workers: one store for the gateway, as one per Envoy process.
  const sharedData = SharedMemoryData.create();
  const counters: ConfigCounters = { snapshotVersion: '', swaps: 0, rejected: 0 };
  let committed: Snapshot | null = null;
  let isClosed = false;
  // Builds, commits and restarts run one at a time, in arrival order.
  let queue: Promise<unknown> = Promise.resolve();
  const slots: Slot[] = Array.from({ length: options.workers }, (_, index) => ({
    index, thread: null, restarts: 0, metrics: emptyMetrics(), retired: [], startedAt: 0, backoffMs: 100,
  }));

  const onEvent = (slot: Slot, event: Exclude<WorkerEvent, { type: 'started' | 'adopting' }>): void => {
    if (event.type === 'log') {
      relayLog(event.line);
      return;
    }
    if (onRequestComplete === undefined) return;
    for (const record of event.records) {
      try {
        onRequestComplete(record);
      } catch (error: unknown) {
        logger.error({ err: error, worker: slot.index }, 'onRequestComplete failed');
      }
    }
  };
  const relayLog = (line: string): void => {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const { level, msg, time: _time, pid: _pid, hostname: _hostname, ...fields } = record;
    const label = logger.levels.labels[Number(level)] ?? 'info';
    const log = (logger as unknown as Record<string, (fields: object, msg?: string) => void>)[label];
    log?.call(logger, fields, typeof msg === 'string' ? msg : undefined);
  };

  const start = async (slot: Slot): Promise<void> => {
    const fd = await socket.duplicate();
    const init: WorkerInit = {
      index: slot.index, fd, snapshot: committed, listenerName: options.listenerName, logLevel: logger.level,
      sharedData: sharedData.buffer, wantsRecords: onRequestComplete !== undefined, tracing: options.tracing ?? null,
    };
    let thread: WorkerThread;
    let hasAdopted = false;
    try {
      thread = await WorkerThread.start(init, {
        onEvent: (event) => onEvent(slot, event),
        onAdopting: () => { hasAdopted = true; },
        onDeath: (error, exitCode) => died(slot, error, exitCode),
      });
    } catch (error: unknown) {
      // A worker that never opened its descriptor leaves it to this thread.
      if (!hasAdopted) socket.release(fd);
      throw error;
    }
    slot.thread = thread;
    slot.startedAt = Date.now();
  };

  const died = (slot: Slot, error: unknown, exitCode: number): void => {
    if (slot.thread === null) return;
    slot.thread = null;
    slot.retired.push(slot.metrics);
    slot.metrics = emptyMetrics();
    slot.restarts += 1;
    logger.error({ worker: slot.index, exitCode, err: error ?? undefined }, 'gateway worker died, restarting it');
    slot.backoffMs = Date.now() - slot.startedAt >= stableMs ? 0 : Math.min(Math.max(slot.backoffMs * 2, 100), maxBackoffMs);
    scheduleRestart(slot);
  };
  const scheduleRestart = (slot: Slot): void => {
    setTimeout(() => {
      queue = queue.then(async () => {
        if (isClosed || slot.thread !== null) return;
        try {
          await start(slot);
          logger.info({ worker: slot.index, serving: committed?.version ?? null }, 'gateway worker restarted');
        } catch (error: unknown) {
          logger.error({ worker: slot.index, err: error }, 'gateway worker could not be restarted');
          slot.backoffMs = Math.min(Math.max(slot.backoffMs * 2, 100), maxBackoffMs);
          scheduleRestart(slot);
        }
      });
    }, slot.backoffMs).unref();
  };

  const applyNow = async (snapshot: Snapshot): Promise<void> => {
    const threads = slots.flatMap((slot) => (slot.thread === null ? [] : [slot.thread]));
    const results = await Promise.allSettled(threads.map((thread) => thread.call({ type: 'prepare', snapshot })));
    const prepared = threads.flatMap((thread, i) => {
      const result = results[i];
      return result?.status === 'fulfilled' ? [{ thread, id: result.value.id }] : [];
    });
    // A worker that exited meanwhile is no refusal: its restart serves what is committed.
    const refusal = results.find((result): result is PromiseRejectedResult =>
      result.status === 'rejected' && !(result.reason instanceof WorkerExitedError));
    if (refusal !== undefined) {
      await Promise.allSettled(prepared.map(({ thread, id }) => thread.call({ type: 'discard', prepared: id })));
      counters.rejected += 1;
      logger.error({ version: snapshot.version, err: refusal.reason, serving: committed?.version ?? null }, 'snapshot rejected, keeping the last good configuration');
      throw refusal.reason;
    }
    await Promise.allSettled(prepared.map(({ thread, id }) => thread.call({ type: 'commit', prepared: id }).then(() => { thread.version = snapshot.version; })));
    committed = snapshot;
    counters.snapshotVersion = snapshot.version;
    counters.swaps += 1;
  };
  const apply = (snapshot: Snapshot): Promise<void> => {
    const run = queue.then(() => (isClosed ? undefined : applyNow(snapshot)));
    queue = run.catch(() => undefined);
    return run;
  };

  const renderAll = async (): Promise<string> => {
    await Promise.all(slots.map(async (slot) => {
      const thread = slot.thread;
      if (thread === null) return;
      const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), metricsTimeoutMs).unref());
      const reply = await Promise.race([thread.call({ type: 'metrics' }).catch(() => null), timeout]);
      if (reply?.metrics !== undefined && slot.thread === thread) slot.metrics = reply.metrics;
    }));
    const merged = mergeMetricsStates(slots.flatMap((slot) => [...slot.retired, slot.metrics]));
    const extra = [
      '# HELP apip_gateway_workers Worker threads configured to serve traffic.',
      '# TYPE apip_gateway_workers gauge',
      `apip_gateway_workers ${slots.length}`,
      '# HELP apip_gateway_worker_requests_total Requests answered by each worker thread (restarts included).',
      '# TYPE apip_gateway_worker_requests_total counter',
      ...slots.map((slot) => {
        const total = [...slot.retired, slot.metrics].reduce((sum, state) => sum + state.requests.reduce((n, s) => n + s.count, 0), 0);
        return `apip_gateway_worker_requests_total{worker="${slot.index}"} ${total}`;
      }),
      '# HELP apip_gateway_worker_restarts_total Worker threads that died and were replaced.',
      '# TYPE apip_gateway_worker_restarts_total counter',
      ...slots.map((slot) => `apip_gateway_worker_restarts_total{worker="${slot.index}"} ${slot.restarts}`),
    ];
    return renderMetrics(merged, counters, extra);
  };

  try {
    await Promise.all(slots.map(start));
  } catch (error: unknown) {
    await Promise.all(slots.map((slot) => slot.thread?.stop()));
    socket.close();
    throw error;
  }
  // Ready when every worker serves a configuration.
  const admin = await listenAdmin(options, renderAll, () => slots.every((slot) => slot.thread?.version != null));

  const unsubscribe = await followSource(options.source, apply);
  logger.info({ port: socket.port, adminPort: admin?.port ?? null, workers: slots.length }, 'gateway listening');

  const gateway: Gateway = {
    port: socket.port,
    adminPort: admin?.port ?? null,
    get version() { return committed?.version ?? null; },
    apply,
    flushRecords: async () => {
      await Promise.all(slots.map((slot) => slot.thread?.call({ type: 'flush-records' }).catch(() => undefined)));
    },
    close: async () => {
      isClosed = true;
      unsubscribe();
      await queue;
      await Promise.all(slots.map(async (slot) => {
        const thread = slot.thread;
        slot.thread = null;
        await thread?.stop();
      }));
      socket.close();
      if (admin !== null) await closeServer(admin.server);
    },
  };
  killers.set(gateway, async (index) => {
    await slots[index]?.thread?.kill();
  });
  return gateway;
}
