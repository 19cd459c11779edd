/**
 * Proxy shared data: median ns per get, per set, per get + CAS set of one 16-byte counter, for the one-thread store
 * (SharedDataRegistry / InMemorySharedData) and the SharedArrayBuffer store of worker threads (SharedMemoryData);
 * then SharedMemoryData with a second thread doing get + CAS set on the same counter all the while (contended: the
 * CAS set is retried on CasMismatch, and each retry counts in the figure).
 * Operations are timed in batches of BATCH (hrtime per operation would cost more than one); median and p99 over
 * BENCH_BATCHES batches (default 2000) after 200 warm-up batches.
 * Run: npx tsx bench/shared-data.ts
 */
import { loadavg } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Status } from '../server/gateway/proxy-wasm/abi.ts';
import { SharedDataRegistry, type SharedDataStore, type SharedDataStores } from '../server/gateway/proxy-wasm/shared-data.ts';
import { SharedMemoryData } from '../server/gateway/proxy-wasm/shared-memory-data.ts';

const BATCH = 1000;
const BATCHES = Number(process.env.BENCH_BATCHES ?? 2000);
const KEY = 'throttle:route-1:key_123';
const value = new Uint8Array(16);

function casIncrement(store: SharedDataStore): void {
  for (;;) {
    const entry = store.get(KEY)!;
    value[0] = entry.value[0]! + 1;
    if (store.set(KEY, value, entry.cas) === Status.Ok) return;
  }
}

const operations: Record<string, (store: SharedDataStore) => void> = {
  get: (store) => void store.get(KEY),
  set: (store) => void store.set(KEY, value, 0),
  'get+CAS set': casIncrement,
};

/** Median and p99 ns per operation. */
function measure(store: SharedDataStore, operation: (store: SharedDataStore) => void): [number, number] {
  const perOp: number[] = [];
  for (let batch = 0; batch < BATCHES + 200; batch++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) operation(store);
    if (batch >= 200) perOp.push(Number(process.hrtime.bigint() - start) / BATCH);
  }
  perOp.sort((a, b) => a - b);
  return [perOp[Math.floor(perOp.length / 2)]!, perOp[Math.floor(perOp.length * 0.99)]!];
}

function row(name: string, stores: SharedDataStores): void {
  const store = stores.forVm('bench');
  store.set(KEY, value, 0);
  const cells = Object.entries(operations).map(([, operation]) => measure(store, operation).map((ns) => ns.toFixed(0).padStart(6)).join(' /'));
  console.log(`${name.padEnd(34)} ${cells.map((cell) => cell.padEnd(16)).join(' ')}`);
}

async function contended(): Promise<void> {
  const data = SharedMemoryData.create();
  data.forVm('bench').set(KEY, value, 0);
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(new URL('../test/fixtures/gateway/typescript-worker.mjs', import.meta.url), {
    workerData: { entry: import.meta.url, buffer: data.buffer, stop },
  });
  await new Promise((resolve) => worker.once('message', resolve));
  row('SharedMemoryData, 2 threads', { forVm: () => data.forVm('bench') });
  Atomics.store(new Int32Array(stop), 0, 1);
  const done = (await new Promise((resolve) => worker.once('message', resolve))) as { increments: number };
  console.log(`(the other thread made ${done.increments} CAS increments meanwhile)`);
}

if (isMainThread) {
  console.log(`load average ${loadavg().map((load) => load.toFixed(2)).join(' ')}; ns per operation, median / p99`);
  console.log(`${''.padEnd(34)} ${Object.keys(operations).map((name) => name.padEnd(16)).join(' ')}`);
  row('InMemorySharedData (one thread)', new SharedDataRegistry());
  row('SharedMemoryData, 1 thread', SharedMemoryData.create());
  await contended();
} else {
  const { buffer, stop } = workerData as { buffer: SharedArrayBuffer; stop: SharedArrayBuffer };
  const store = SharedMemoryData.attach(buffer).forVm('bench');
  const flag = new Int32Array(stop);
  let increments = 0;
  parentPort!.postMessage('started');
  while (Atomics.load(flag, 0) === 0) {
    casIncrement(store);
    increments += 1;
  }
  parentPort!.postMessage({ increments });
}
