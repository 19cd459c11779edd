// proxy_* functions that are not about one HTTP stream: logging, time, timers, properties, shared data and
// queues, metrics, http_call, effective context. gRPC and foreign functions are declared (so any module Envoy
// accepts links) and answer UNIMPLEMENTED.
import { LogLevel, Status } from './abi.ts';
import { type HostBinding, memoryOf } from './host-binding.ts';
import { lookupProperty } from './properties.ts';

/** Maps a pino level name to proxy_log_level_t. */
function proxyLogLevel(level: string | undefined): number {
  switch (level) {
    case 'trace': return LogLevel.Trace;
    case 'debug': return LogLevel.Debug;
    case 'warn': return LogLevel.Warn;
    case 'error': return LogLevel.Error;
    case 'fatal': return LogLevel.Critical;
    case 'silent': return LogLevel.Critical + 1;
    default: return LogLevel.Info;
  }
}

export function createHostImports(binding: HostBinding) {
  const services = binding.services;
  const { logger, clock, plugin } = services;
  const unimplemented = (): number => Status.Unimplemented;

  return {
    proxy_log(level: number, messagePtr: number, messageSize: number): number {
      if (level < LogLevel.Trace || level > LogLevel.Critical) return Status.BadArgument;
      const message = memoryOf(binding).readString(messagePtr, messageSize);
      const fields = { plugin: plugin.name, contextId: binding.scope.contextId, message };
      if (level === LogLevel.Trace) logger.trace(fields, 'policy log');
      else if (level === LogLevel.Debug) logger.debug(fields, 'policy log');
      else if (level === LogLevel.Info) logger.info(fields, 'policy log');
      else if (level === LogLevel.Warn) logger.warn(fields, 'policy log');
      else logger.error(fields, 'policy log');
      return Status.Ok;
    },
    proxy_get_log_level(levelPtr: number): number {
      memoryOf(binding).writeU32(levelPtr, proxyLogLevel(logger.level));
      return Status.Ok;
    },
    proxy_get_current_time_nanoseconds(timePtr: number): number {
      memoryOf(binding).writeU64(timePtr, clock.nowNanos());
      return Status.Ok;
    },
    proxy_set_tick_period_milliseconds(periodMs: number): number {
      services.setTickPeriod(periodMs >>> 0);
      return Status.Ok;
    },
    proxy_get_property(pathPtr: number, pathSize: number, valuePtr: number, valueSizePtr: number): number {
      const memory = memoryOf(binding);
      const value = lookupProperty(memory.readString(pathPtr, pathSize), plugin, binding.scope.stream);
      if (value === undefined) return Status.NotFound;
      if (typeof value === 'string') memory.returnString(value, valuePtr, valueSizePtr);
      else memory.returnBytes(value, valuePtr, valueSizePtr);
      return Status.Ok;
    },
    proxy_set_property(pathPtr: number, pathSize: number, valuePtr: number, valueSize: number): number {
      const stream = binding.scope.stream;
      const memory = memoryOf(binding);
      const path = memory.readString(pathPtr, pathSize);
      const value = memory.copy(valuePtr, valueSize);
      if (stream === null) return Status.NotFound;
      stream.properties.set(path, value);
      return Status.Ok;
    },
    proxy_get_shared_data(keyPtr: number, keySize: number, valuePtr: number, valueSizePtr: number, casPtr: number): number {
      const memory = memoryOf(binding);
      const entry = services.sharedData.get(memory.readString(keyPtr, keySize));
      memory.check(casPtr, 4);
      if (entry === undefined) return Status.NotFound;
      memory.returnBytes(entry.value, valuePtr, valueSizePtr);
      memory.writeU32(casPtr, entry.cas);
      return Status.Ok;
    },
    proxy_set_shared_data(keyPtr: number, keySize: number, valuePtr: number, valueSize: number, cas: number): number {
      const memory = memoryOf(binding);
      const key = memory.readString(keyPtr, keySize);
      return services.sharedData.set(key, memory.bytesAt(valuePtr, valueSize), cas >>> 0);
    },
    proxy_register_shared_queue(namePtr: number, nameSize: number, queueIdPtr: number): number {
      const memory = memoryOf(binding);
      const name = memory.readString(namePtr, nameSize);
      memory.check(queueIdPtr, 4);
      const id = services.queues.register(plugin.vmId, name, (queueId) => services.notifyQueueReady(queueId));
      memory.writeU32(queueIdPtr, id);
      return Status.Ok;
    },
    proxy_resolve_shared_queue(vmIdPtr: number, vmIdSize: number, namePtr: number, nameSize: number, queueIdPtr: number): number {
      const memory = memoryOf(binding);
      const vmId = memory.readString(vmIdPtr, vmIdSize);
      const id = services.queues.resolve(vmId === '' ? plugin.vmId : vmId, memory.readString(namePtr, nameSize));
      memory.check(queueIdPtr, 4);
      if (id === undefined) return Status.NotFound;
      memory.writeU32(queueIdPtr, id);
      return Status.Ok;
    },
    proxy_enqueue_shared_queue(queueId: number, dataPtr: number, dataSize: number): number {
      const data = memoryOf(binding).bytesAt(dataPtr, dataSize);
      return services.queues.enqueue(queueId >>> 0, data) ? Status.Ok : Status.NotFound;
    },
    proxy_dequeue_shared_queue(queueId: number, dataPtr: number, dataSizePtr: number): number {
      const memory = memoryOf(binding);
      memory.check(dataPtr, 4);
      memory.check(dataSizePtr, 4);
      const item = services.queues.dequeue(queueId >>> 0);
      if (item === undefined) return Status.NotFound;
      if (item === null) return Status.Empty;
      memory.returnBytes(item, dataPtr, dataSizePtr);
      return Status.Ok;
    },
    proxy_define_metric(type: number, namePtr: number, nameSize: number, idPtr: number): number {
      const memory = memoryOf(binding);
      const name = memory.readString(namePtr, nameSize);
      memory.check(idPtr, 4);
      const id = services.metrics.define(type, name);
      if (id === undefined) return Status.BadArgument;
      memory.writeU32(idPtr, id);
      return Status.Ok;
    },
    proxy_increment_metric(id: number, delta: bigint): number {
      const result = services.metrics.increment(id >>> 0, delta);
      return result === 'ok' ? Status.Ok : result === 'not_found' ? Status.NotFound : Status.BadArgument;
    },
    proxy_record_metric(id: number, value: bigint): number {
      return services.metrics.record(id >>> 0, BigInt.asUintN(64, value)) ? Status.Ok : Status.NotFound;
    },
    proxy_get_metric(id: number, resultPtr: number): number {
      const memory = memoryOf(binding);
      memory.check(resultPtr, 8);
      const value = services.metrics.get(id >>> 0);
      if (value === undefined) return Status.NotFound;
      if (value === 'bad_argument') return Status.BadArgument;
      memory.writeU64(resultPtr, value);
      return Status.Ok;
    },
    proxy_http_call(
      upstreamPtr: number, upstreamSize: number, headersPtr: number, headersSize: number, bodyPtr: number, bodySize: number,
      trailersPtr: number, trailersSize: number, timeoutMs: number, tokenPtr: number,
    ): number {
      const memory = memoryOf(binding);
      const cluster = memory.readString(upstreamPtr, upstreamSize);
      const headers = memory.readPairs(headersPtr, headersSize);
      const body = memory.copy(bodyPtr, bodySize);
      const trailers = memory.readPairs(trailersPtr, trailersSize);
      memory.check(tokenPtr, 4);
      if (headers === null || trailers === null) return Status.BadArgument;
      const required = [':method', ':path', ':authority'];
      if (!required.every((name) => headers.some(([key]) => key.toLowerCase() === name))) return Status.BadArgument;
      const token = services.startHttpCall(binding.scope.contextId, { cluster, headers, body, trailers, timeoutMs: timeoutMs >>> 0 });
      if (token === undefined) return Status.BadArgument;
      memory.writeU32(tokenPtr, token);
      return Status.Ok;
    },
    proxy_set_effective_context(contextId: number): number {
      const id = contextId >>> 0;
      if (id === binding.rootContextId) {
        binding.scope = { ...binding.scope, contextId: id, stream: null };
        return Status.Ok;
      }
      const stream = binding.streams.get(id);
      if (stream === undefined) return Status.BadArgument;
      binding.scope = { ...binding.scope, contextId: id, stream };
      return Status.Ok;
    },
    proxy_done(): number {
      return Status.NotFound;
    },
    proxy_call_foreign_function: unimplemented,
    proxy_grpc_call: unimplemented,
    proxy_grpc_stream: unimplemented,
    proxy_grpc_send: unimplemented,
    proxy_grpc_cancel: unimplemented,
    proxy_grpc_close: unimplemented,
    proxy_clear_route_cache: (): number => Status.Ok,
  };
}
