// Harness for running the compiled policy modules through the proxy-wasm host in tests and benchmarks.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { keyDigest } from '../../server/domain/secrets.ts';
import { testPlatformKeys } from './domain.ts';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeaderMap } from '../../server/gateway/proxy-wasm/header-map.ts';
import type { HttpStream } from '../../server/gateway/proxy-wasm/http-stream.ts';
import { loadPlugin, type LoadPluginOptions, type Plugin } from '../../server/gateway/proxy-wasm/plugin.ts';
import type { HeaderList, HeadersOutcome, LocalReply, PolicyLogger } from '../../server/gateway/proxy-wasm/types.ts';
import { configurationSchemaErrors } from './module-configuration.ts';

const rootDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const policiesBuildDir = join(rootDir, 'policies', 'build');

const modules = new Map<string, WebAssembly.Module>();

/** The compiled module `name`, building the policies first when the build output is missing. */
export function policyWasm(name: string): Uint8Array<ArrayBuffer> {
  const file = join(policiesBuildDir, `${name}.wasm`);
  if (!existsSync(file)) execFileSync(process.execPath, [join(rootDir, 'policies', 'build.mjs'), name], { stdio: 'inherit' });
  return new Uint8Array(readFileSync(file));
}

export function policyModule(name: string): WebAssembly.Module {
  let module = modules.get(name);
  if (!module) {
    module = new WebAssembly.Module(policyWasm(name));
    modules.set(name, module);
  }
  return module;
}

export interface LogEntry {
  level: string;
  fields: object;
  message: string;
}

export interface CapturingLogger extends PolicyLogger {
  entries: LogEntry[];
}

/** A pino-shaped logger that keeps every entry. */
export function captureLogger(level = 'info'): CapturingLogger {
  const entries: LogEntry[] = [];
  const at = (name: string) => (fields: object, message: string) => {
    entries.push({ level: name, fields, message });
  };
  return { level, entries, trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

let vmCounter = 0;

/** APIP_DIFF_RECORD=<dir>: record every loaded plugin for scripts/differential.ts (test/helpers/diff-recorder.ts). */
const recordDir = process.env.APIP_DIFF_RECORD || undefined;

/** Loads policy `name` with `configuration` (an object is JSON-encoded); a fresh VM id unless one is given. */
export async function loadPolicy(
  name: string,
  configuration: unknown,
  options: Partial<LoadPluginOptions> = {},
): Promise<Plugin> {
  vmCounter += 1;
  const pluginOptions: LoadPluginOptions = {
    name,
    wasm: policyModule(name),
    configuration: typeof configuration === 'string' ? configuration : JSON.stringify(configuration),
    vmId: `${name}-test-${vmCounter}`,
    logger: captureLogger(),
    ...options,
  };
  const plugin = recordDir === undefined
    ? await loadPlugin(pluginOptions)
    : await (await import('./diff-recorder.ts')).loadRecorded(recordDir, pluginOptions, options, loadPlugin);
  // Whatever a module accepts is within its configuration's JSON Schema (server/policies/<kind>.ts), so the schema
  // that documents and checks the translator's output cannot drift from the module.
  if (plugin.isConfigured) {
    const errors = configurationSchemaErrors(name, configuration);
    if (errors.length > 0) throw new Error(`the ${name} module accepted a configuration outside its JSON Schema: ${errors.join('; ')}`);
  }
  return plugin;
}

export interface TestRequest {
  route?: string;
  method?: string;
  path?: string;
  headers?: HeaderList;
}

export interface TestResult {
  outcome: HeadersOutcome;
  headers: HeaderMap;
  stream: HttpStream;
}

export function requestHeaders(request: TestRequest): HeaderMap {
  return new HeaderMap([
    [':method', request.method ?? 'GET'],
    [':path', request.path ?? '/'],
    [':authority', 'api.example.test'],
    [':scheme', 'http'],
    ...(request.headers ?? []),
  ]);
}

/** Sends request headers through one plugin and ends the stream. */
export function sendRequest(plugin: Plugin, request: TestRequest): TestResult {
  const stream = plugin.createHttpContext({ routeName: request.route ?? '', sourceAddress: '127.0.0.1:50000' });
  const headers = requestHeaders(request);
  const outcome = stream.onRequestHeaders(headers, true);
  stream.onDone();
  return { outcome, headers, stream };
}

/** The local reply of an outcome, failing the test when there is none. */
export function localReplyOf(outcome: HeadersOutcome): LocalReply {
  if (outcome.action !== 'localReply') throw new Error(`expected a local reply, got ${outcome.action}`);
  return outcome;
}

export function jsonOf(reply: LocalReply): unknown {
  return JSON.parse(new TextDecoder().decode(reply.body));
}

export function headerOf(reply: LocalReply, name: string): string | undefined {
  return reply.headers.find(([key]) => key.toLowerCase() === name)?.[1];
}

/** The digest key of module configurations in policy tests (`digestKey`), and the keyed digest under it. */
export const testDigestKey = testPlatformKeys.digestKey;
export const testDigestKeyHex = testDigestKey.toString('hex');

export function keyDigestHex(text: string): string {
  return keyDigest(testDigestKey, text);
}

/** A v0.9-style API key: `apip_` + 64 hex characters. */
export function apiKey(seed: string): string {
  return `apip_${createHash('sha256').update(`key:${seed}`).digest('hex')}`;
}
