// Differential check of our proxy-wasm host against Envoy's (proxy-wasm-cpp-host, through wasmcheck): records the
// policy tests' scenarios (test/helpers/diff-recorder.ts), replays each one in wasmcheck with the same module,
// configuration, requests, http-call answers and clock, and reports every difference. Development tool only: not run
// by `npm test`, and nothing in the project needs wasmcheck (docs/gateway.md, "Checking against Envoy's wasm host").
//
//   npm run differential -- [--wasmcheck PATH] [--recording DIR] [--module NAME] [--modules DIR] [--verbose]
//
// --wasmcheck (or WASMCHECK): the wasmcheck binary. --recording: replay an existing recording instead of running
// `vitest run test/policies` with APIP_DIFF_RECORD. --module: only that module's scenarios. --modules: take the
// .wasm files found there (another build of the same sources, e.g. without SIMD for WAMR) instead of policies/build. Exit status: 0 same everywhere, 1 differences, 2 cannot run.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compareFinal, compareRequest, type WasmcheckFinal, type WasmcheckStep } from './differential/compare.ts';
import type { Pairs, RecordedRequest, RecordedScenario } from './differential/recording.ts';
import { replayInOurHost } from './differential/replay-ours.ts';
import { scenariosFromListeners } from './differential/generated.ts';
import { parse as parseYaml } from 'yaml';
import { renderScenario } from './differential/render.ts';
import { differenceCount, formatReport, type ScenarioResult } from './differential/report.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const { values } = parseArgs({
  options: {
    wasmcheck: { type: 'string' },
    recording: { type: 'string' },
    module: { type: 'string' },
    modules: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});

function fail(message: string): never {
  process.stderr.write(`differential: ${message}\n`);
  process.exit(2);
}

const wasmcheck = values.wasmcheck ?? process.env.WASMCHECK;
if (!wasmcheck) {
  fail('wasmcheck is not configured: pass --wasmcheck PATH or set WASMCHECK (build it as its README says: ../shared/tools/wasmcheck).');
}
try {
  accessSync(wasmcheck, constants.X_OK);
} catch {
  fail(`wasmcheck not found or not executable at ${wasmcheck} (build it as its README says: ../shared/tools/wasmcheck).`);
}

const work = mkdtempSync(join(tmpdir(), 'apip-differential-'));
let recording = values.recording ? resolve(values.recording) : join(work, 'recording');
if (!values.recording) {
  process.stderr.write(`recording the policy tests' scenarios in ${recording} …\n`);
  const run = spawnSync('npx', ['vitest', 'run', 'test/policies'], {
    cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, APIP_DIFF_RECORD: recording },
  });
  if (run.status !== 0) process.stderr.write('note: some policy tests failed; their scenarios are compared as recorded\n');
  if (!existsSync(recording)) fail('the policy tests recorded nothing');
}
recording = resolve(recording);

/** The module wasmcheck runs: the --modules build when it has one, else ours. */
function modulePath(module: string): string {
  const other = values.modules === undefined ? undefined : resolve(values.modules, `${module}.wasm`);
  return other !== undefined && existsSync(other) ? other : join(root, 'policies', 'build', `${module}.wasm`);
}

type Report = WasmcheckFinal & {
  startup: { ok: boolean; vm_errors?: string[]; host_messages?: string[]; error?: string };
  steps: Array<WasmcheckStep & { request_headers_in?: Pairs }>;
};

function label(request: RecordedRequest, i: number): string {
  const header = (name: string) => request.requestHeaders?.find(([n]) => n === name)?.[1] ?? '';
  return `request ${i + 1} (${header(':method')} ${header(':path')} on ${request.routeName || '(no route)'})`;
}

/** Each request of ours against its step in the report, then the end state. */
function compareAll(requests: Array<RecordedRequest | null>, final: RecordedScenario['final'], report: Report, requestSteps: number[]) {
  return [...requests.flatMap((request, i) => {
    if (request === null) return [];
    const step = report.steps[requestSteps[i] ?? -1];
    return [{
      request: label(request, i),
      differences: step === undefined ? [{ field: 'request', ours: 'served', theirs: 'missing from the report' }] : compareRequest(request, step),
    }];
  }), { request: 'end state (metrics, shared data)', differences: compareFinal(final, report) }];
}

const compiled = new Map<string, WebAssembly.Module>();

/** The scenario as the test drove it, and (when both hosts run it) as whole streams driven the same in both. */
async function replay(scenario: RecordedScenario, index: number): Promise<{ recorded: ScenarioResult; whole: ScenarioResult | null }> {
  const wasmFile = modulePath(scenario.module);
  let wasm = compiled.get(wasmFile);
  if (wasm === undefined) {
    wasm = new WebAssembly.Module(readFileSync(wasmFile));
    compiled.set(wasmFile, wasm);
  }
  const { module, name } = scenario;
  const run = renderScenario(scenario);
  if ('unrenderable' in run) {
    const skipped: ScenarioResult = { kind: 'skipped', module, name, reasons: run.unrenderable };
    return { recorded: skipped, whole: skipped };
  }
  const dir = join(work, 'runs', String(index));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'plugin-config'), run.pluginConfiguration);
  writeFileSync(join(dir, 'vm-config'), run.vmConfiguration);
  writeFileSync(join(dir, 'script.json'), JSON.stringify(run.script, null, 1));
  const output = join(dir, 'report.json');
  const result = spawnSync(wasmcheck as string, [
    '--module', wasmFile, '--root-id', run.rootId,
    '--plugin-config', join(dir, 'plugin-config'), '--vm-config', join(dir, 'vm-config'),
    '--script', join(dir, 'script.json'), '--output', output, '--compact',
  ], { encoding: 'utf8', timeout: 120_000 });
  if (result.status === 1 || !existsSync(output)) {
    const failed: ScenarioResult = { kind: 'failedToLoad', module, name, reason: `wasmcheck could not run the script (${dir}): ${result.stderr.trim().split('\n').at(-1) ?? ''}` };
    return { recorded: failed, whole: null };
  }
  const report = JSON.parse(readFileSync(output, 'utf8')) as Report;
  if (!report.startup.ok) {
    const messages = [...(report.startup.vm_errors ?? []), ...(report.startup.host_messages ?? [])];
    if (messages.some((message) => /load|link|import/i.test(message))) {
      // WAMR says why on stderr (e.g. "WASM module load failed: v128 value type requires simd feature").
      const engine = result.stderr.split('\n').find((line) => /failed/i.test(line))?.replace(/^\[[^\]]*\]:\s*/, '');
      return { recorded: { kind: 'failedToLoad', module, name, reason: [...messages, engine].filter(Boolean).join('; ') }, whole: null };
    }
    // Refused by both hosts: the same answer (our host then fails every request closed, Envoy rejects the config).
    const isConfigured = scenario.isConfigured && (await replayInOurHost({ ...scenario, events: [] }, wasm, [])) !== null;
    const differences = isConfigured ? [{ field: 'configuration', ours: 'accepted', theirs: `refused (${messages.join('; ')})` }] : [];
    return { recorded: { kind: 'compared', module, name, requests: [{ request: 'configuration', differences }] }, whole: null };
  }
  if (!scenario.isConfigured) {
    return { recorded: { kind: 'compared', module, name, requests: [{ request: 'configuration', differences: [{ field: 'configuration', ours: 'refused', theirs: 'accepted' }] }] }, whole: null };
  }
  const requests = scenario.events.filter((event): event is RecordedRequest => event.kind === 'request');
  const recorded: ScenarioResult = { kind: 'compared', module, name, requests: compareAll(requests, scenario.final, report, run.requestSteps) };
  const ours = await replayInOurHost(scenario, wasm, run.requestSteps.map((step) => report.steps[step]?.request_headers_in));
  const whole: ScenarioResult = ours === null
    ? { kind: 'compared', module, name, requests: [{ request: 'configuration', differences: [{ field: 'configuration', ours: 'refused', theirs: 'accepted' }] }] }
    : { kind: 'compared', module, name, requests: compareAll(ours.requests, ours.final, report, run.requestSteps) };
  return { recorded, whole };
}

const files = readdirSync(recording).filter((file) => file.endsWith('.json')).sort();
const scenarios = files.map((file) => JSON.parse(readFileSync(join(recording, file), 'utf8')) as RecordedScenario)
  .filter((scenario) => values.module === undefined || scenario.module === values.module);
const recorded: ScenarioResult[] = [];
const whole: ScenarioResult[] = [];
for (const [index, scenario] of scenarios.entries()) {
  const result = await replay(scenario, index);
  recorded.push(result.recorded);
  if (result.whole !== null) whole.push(result.whole);
  else if (result.recorded.kind === 'failedToLoad') whole.push(result.recorded);
}
// The configurations the control plane generates (golden listeners), probed on every route they configure.
const goldenDir = join(root, 'test', 'golden', 'xds', 'out');
const generatedScenarios = readdirSync(goldenDir).filter((file) => file.endsWith('.listeners.yaml')).sort()
  .flatMap((file) => scenariosFromListeners(file.replace(/\.listeners\.yaml$/, ''), parseYaml(readFileSync(join(goldenDir, file), 'utf8'))))
  .filter((scenario) => values.module === undefined || scenario.module === values.module);
const generated: ScenarioResult[] = [];
for (const [index, scenario] of generatedScenarios.entries()) {
  const result = await replay(scenario, scenarios.length + index);
  // No test drove these: only the run of both hosts alike means something ('recorded' has no outcome of ours).
  generated.push(result.whole ?? result.recorded);
}
process.stdout.write([
  'As the tests drove them (our host as recorded in the tests):',
  formatReport(recorded, values.verbose ?? false),
  '',
  'Whole streams (both hosts driven alike: the request headers cpp-host gave the module, the fake upstream\'s answer, the end of the stream):',
  formatReport(whole, false),
  '',
  'Generated configurations (each wasm filter of test/golden/xds/out/*.listeners.yaml, probe requests on its routes, whole streams):',
  formatReport(generated, false),
  '',
  `wasmcheck runs kept in ${work}`,
  '',
].join('\n'));
process.exit(differenceCount(recorded) + differenceCount(whole) + differenceCount(generated) > 0 ? 1 : 0);
