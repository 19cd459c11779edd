import { describe, expect, it } from 'vitest';
import { loadPlugin } from '../../../../server/gateway/proxy-wasm/plugin.ts';
import { ModuleRejectedError } from '../../../../server/gateway/proxy-wasm/vm.ts';
import { baseFunctions, buildModule, op } from '../../../helpers/wasm-builder.ts';
import { captureLogger, loadPolicy, localReplyOf, sendRequest, testDigestKeyHex } from '../../../helpers/policies.ts';

const headersType = { params: 3, results: 1 } as const;

/** A module whose proxy_on_request_headers traps when the request has exactly 5 headers. */
function trappingModule(): Uint8Array {
  return buildModule([], [
    ...baseFunctions(),
    {
      export: 'proxy_on_request_headers',
      type: headersType,
      body: [...op.localGet(1), ...op.i32Const(5), ...op.i32Eq(), ...op.ifEmpty(), ...op.unreachable(), ...op.end(), ...op.i32Const(0)],
    },
  ]);
}

describe('loadPlugin', () => {
  it('fails the trapping request and every later one with a 503 when the module traps (fail closed, as Envoy)', async () => {
    const logger = captureLogger();
    const plugin = await loadPlugin({ name: 'trap', wasm: trappingModule(), configuration: '', logger });
    const first = plugin.createHttpContext();
    const trapped = first.onRequestHeaders([['a', '1'], ['b', '2'], ['c', '3'], ['d', '4'], ['e', '5']], true);
    first.onDone();
    const reply = localReplyOf(trapped);
    expect(reply.status).toBe(503);
    expect(reply.details).toBe('wasm_fail_stream');
    expect(reply.body).toHaveLength(0);
    expect(logger.entries.filter((entry) => entry.level === 'error').map((entry) => entry.message)).toEqual(['proxy-wasm module trapped']);

    // The VM stays failed until the plugin is replaced (runtime-config.test.ts): a request that would not trap
    // gets the same answer.
    const next = plugin.createHttpContext();
    expect(localReplyOf(next.onRequestHeaders([['a', '1']], true))).toMatchObject({ status: 503, details: 'wasm_fail_stream' });
    next.onDone();
  });

  it('rejects a module when it imports a function Envoy does not provide', async () => {
    const wasm = buildModule([{ module: 'env', name: 'proxy_dictionary_get', type: { params: 4, results: 1 } }], baseFunctions());
    await expect(loadPlugin({ name: 'fastedge', wasm, configuration: '', logger: captureLogger() })).rejects.toThrow(ModuleRejectedError);
  });

  it('rejects a module when it lacks the ABI version marker', async () => {
    const wasm = buildModule([], baseFunctions().filter((fn) => fn.export !== 'proxy_abi_version_0_2_1'));
    await expect(loadPlugin({ name: 'old', wasm, configuration: '', logger: captureLogger() })).rejects.toThrow(/proxy_abi_version_0_2_1/);
  });

  it('answers a local reply and then runs the module\'s response callbacks on it, as Envoy does', async () => {
    const plugin = await loadPolicy('api-key', { digestKey: testDigestKeyHex, keySets: {}, routes: { 'a/GET/x': { keySets: [], key: 'x-api-key' } } });
    const stream = plugin.createHttpContext({ routeName: 'a/GET/x' });
    const outcome = stream.onRequestHeaders([[':path', '/x']], true);
    expect(localReplyOf(outcome).status).toBe(401);
    expect(stream.onResponseHeaders([[':status', '401']], true)).toEqual({ action: 'continue' });
    stream.onDone();
  });

  it('keeps shared data when a plugin with the same VM id is loaded again', async () => {
    const vmId = `shared-${Math.random()}`;
    const config = { routes: { r: { limits: [{ requests: 1, windowMs: 60_000 }] } } };
    const first = await loadPolicy('throttle', config, { vmId });
    expect(sendRequest(first, { route: 'r' }).outcome.action).toBe('continue');
    const second = await loadPolicy('throttle', config, { vmId });
    expect(localReplyOf(sendRequest(second, { route: 'r' }).outcome).status).toBe(429);
  });

  it('routes a module log line to the logger when the module logs', async () => {
    const logger = captureLogger();
    const plugin = await loadPolicy('throttle', '{"routes": 1}', { logger });
    expect(plugin.isConfigured).toBe(false);
    const policyLog = logger.entries.find((entry) => entry.message === 'policy log');
    expect(policyLog?.level).toBe('error');
    expect(JSON.stringify(policyLog?.fields)).toContain('$.routes: must be an object');
  });
});
