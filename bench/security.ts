/**
 * Management API hardening (issue 10), over real HTTP on loopback:
 *  1. median latency of a Basic login with an unknown user name vs a wrong password (interleaved samples; the
 *     two must be within 10 %, or user names can be told apart by timing);
 *  2. event-loop time the server spends on an anonymous 1 MiB GraphQL document (answered 401 unparsed). The
 *     client runs in a worker thread, so the main thread's event-loop utilisation is the server's alone.
 *
 *   npx tsx bench/security.ts            (SAMPLES=200 DOCUMENTS=200 by default)
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { adminCredentials as admin, startTestPlatform } from '../test/helpers/platform.ts';

const samples = Number(process.env.SAMPLES ?? 200);
const documents = Number(process.env.DOCUMENTS ?? 200);

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function login(url: string, authorization: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
  await res.arrayBuffer();
  if (res.status !== 401) throw new Error(`expected 401, got ${res.status}`);
  return performance.now() - started;
}

/**
 * Sends `count` anonymous documents of about `kib` KiB one after the other, each on its own connection, once told
 * to start (worker start-up runs loader hooks on the main thread: it must not count).
 */
const clientSource = `
const { request } = require('node:http');
const { workerData, parentPort } = require('node:worker_threads');
const body = Buffer.from(JSON.stringify({ query: '{ ' + 'a '.repeat(workerData.kib * 512) + '}' }));
function once() {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: workerData.port, method: 'POST', path: '/graphql', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve('reset'));
    req.end(body);
  });
}
parentPort.once('message', async () => {
  const statuses = {};
  for (let i = 0; i < workerData.count; i++) { const s = await once(); statuses[s] = (statuses[s] || 0) + 1; }
  parentPort.postMessage(statuses);
});
parentPort.postMessage('ready');
`;

/** Main-thread event-loop busy time per anonymous document of `kib` KiB, the client in a worker thread. */
async function eventLoopPerDocument(port: number, kib: number): Promise<{ perDocumentMs: number; statuses: Record<string, number> }> {
  const worker = new Worker(clientSource, { eval: true, workerData: { port, count: documents, kib } });
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const before = performance.eventLoopUtilization();
  worker.postMessage('go');
  const statuses = await new Promise<Record<string, number>>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const elu = performance.eventLoopUtilization(before);
  await worker.terminate();
  return { perDocumentMs: elu.active / documents, statuses };
}

async function main(): Promise<void> {
  // Every sample is a failed login: measure the scrypt work, not the 429.
  const t = await startTestPlatform('pglite', { embeddedGateway: false, gatewayAdminPort: null, loginThrottle: { maxFailures: 1e9, maxFailuresPerAddress: 1e9 } });
  const platform = t.platform;
  const url = `http://127.0.0.1:${platform.ports.management}/graphql`;
  try {
    for (let i = 0; i < 10; i++) {
      await login(url, basic('nobody', `warm-${i}`));
      await login(url, basic(admin.username, `warm-${i}`));
    }
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < samples; i++) {
      // Interleaved, so drift (other load on the machine) hits both series alike.
      unknown.push(await login(url, basic(`nobody-${i}`, `guess-${i}`)));
      wrong.push(await login(url, basic(admin.username, `guess-${i}`)));
    }
    const unknownMs = median(unknown);
    const wrongMs = median(wrong);
    const gap = Math.abs(unknownMs - wrongMs) / Math.max(unknownMs, wrongMs);
    console.log(`login, ${samples} samples each: unknown user median ${unknownMs.toFixed(2)} ms, wrong password median ${wrongMs.toFixed(2)} ms, difference ${(gap * 100).toFixed(1)} %`);

    // The empty document measures what any anonymous request costs (connection, HTTP parsing, the 401 itself).
    const empty = await eventLoopPerDocument(platform.ports.management, 0);
    const large = await eventLoopPerDocument(platform.ports.management, 1024);
    console.log(
      `anonymous documents, ${documents} each: 1 MiB ${large.perDocumentMs.toFixed(3)} ms of server event loop per document ` +
        `(answers ${JSON.stringify(large.statuses)}), empty ${empty.perDocumentMs.toFixed(3)} ms (answers ${JSON.stringify(empty.statuses)}), ` +
        `the 1 MiB body's share ${(large.perDocumentMs - empty.perDocumentMs).toFixed(3)} ms`,
    );
  } finally {
    await t.close();
  }
}

await main();
