// proxy_* functions on HTTP streams: header maps, buffers, local replies, continue/close.
import { BufferType, MapType, Status, StreamType } from './abi.ts';
import { HeaderMap } from './header-map.ts';
import { type HostBinding, memoryOf } from './host-binding.ts';
import type { HeaderList } from './types.ts';

const EMPTY = new Uint8Array(0);

/**
 * The header map `mapType` in the current scope as Envoy's Context hands it out (getMap when `forWrite`, else
 * getConstMap): a stream's request or response map only while Envoy holds its pointer (see StreamState), the
 * access log's copies readable in on_log; nothing on the root context. null = no map now, undefined = unknown type.
 */
function headerMap(binding: HostBinding, mapType: number, forWrite: boolean): HeaderMap | null | undefined {
  const scope = binding.scope;
  const stream = scope.stream;
  switch (mapType) {
    case MapType.RequestHeaders:
      if (stream === null) return null;
      if (stream.requestHeadersLive) return stream.requestHeaders;
      return forWrite ? null : stream.readableRequestHeaders;
    case MapType.ResponseHeaders:
      if (stream === null) return null;
      if (stream.responseHeadersLive) return stream.responseHeaders;
      return forWrite ? null : stream.readableResponseHeaders;
    case MapType.RequestTrailers: return stream === null ? null : stream.requestTrailers;
    case MapType.ResponseTrailers: return stream === null ? null : stream.responseTrailers;
    case MapType.HttpCallResponseHeaders: {
      // Immutable per the spec.
      const response = scope.httpCallResponse;
      if (response === null || forWrite) return null;
      return (scope.httpCallHeaders ??= new HeaderMap(response.headers));
    }
    case MapType.HttpCallResponseTrailers: {
      const response = scope.httpCallResponse;
      if (response === null || forWrite) return null;
      return (scope.httpCallTrailers ??= new HeaderMap(response.trailers));
    }
    case MapType.GrpcInitialMetadata:
    case MapType.GrpcTrailingMetadata:
      return null;
    default: return undefined;
  }
}

/** proxy_add_header_map_value (`replace` false: Envoy's addCopy) and proxy_replace_header_map_value (setCopy). */
function writeHeader(
  binding: HostBinding, mapType: number, keyPtr: number, keySize: number, valuePtr: number, valueSize: number, replace: boolean,
): number {
  const map = headerMap(binding, mapType, true);
  if (!map) return Status.BadArgument;
  const memory = memoryOf(binding);
  const name = memory.readString(keyPtr, keySize);
  const value = memory.readString(valuePtr, valueSize);
  if (replace) map.replace(name, value);
  else map.add(name, value);
  return Status.Ok;
}

/** The buffer `bufferType` in the current scope, or a status when unavailable. */
function buffer(binding: HostBinding, bufferType: number): Uint8Array | number {
  const { stream, httpCallResponse, pluginConfiguration, vmConfiguration } = binding.scope;
  switch (bufferType) {
    case BufferType.HttpRequestBody: return stream?.requestBody ?? Status.NotFound;
    case BufferType.HttpResponseBody: return stream?.responseBody ?? Status.NotFound;
    case BufferType.HttpCallResponseBody: return httpCallResponse?.body ?? Status.NotFound;
    case BufferType.PluginConfiguration: return pluginConfiguration ?? Status.NotFound;
    case BufferType.VmConfiguration: return vmConfiguration ?? Status.NotFound;
    case BufferType.DownstreamData:
    case BufferType.UpstreamData:
    case BufferType.GrpcCallMessage:
    case BufferType.ForeignFunctionArguments:
      return Status.NotFound;
    default: return Status.BadArgument;
  }
}

function readPairs(binding: HostBinding, ptr: number, size: number): HeaderList | null {
  return memoryOf(binding).readPairs(ptr, size);
}

export function createHttpStreamImports(binding: HostBinding) {
  return {
    proxy_get_header_map_size(mapType: number, sizePtr: number): number {
      // Envoy: the writable map's byteSize() (names and values, not the serialised pairs).
      const map = headerMap(binding, mapType, true);
      if (!map) return Status.BadArgument;
      memoryOf(binding).writeU32(sizePtr, map.byteSize());
      return Status.Ok;
    },
    proxy_get_header_map_pairs(mapType: number, dataPtr: number, sizePtr: number): number {
      const map = headerMap(binding, mapType, false);
      if (map === undefined) return Status.BadArgument;
      // No map, or an empty one: cpp-host returns empty pairs (no bytes) with Ok.
      if (map === null || map.size === 0) memoryOf(binding).returnBytes(EMPTY, dataPtr, sizePtr);
      else memoryOf(binding).returnPairs(map, dataPtr, sizePtr);
      return Status.Ok;
    },
    proxy_set_header_map_pairs(mapType: number, dataPtr: number, size: number): number {
      const map = headerMap(binding, mapType, true);
      if (!map) return Status.BadArgument;
      const pairs = readPairs(binding, dataPtr, size);
      if (pairs === null) return Status.BadArgument;
      map.assignPairs(pairs);
      return Status.Ok;
    },
    proxy_get_header_map_value(mapType: number, keyPtr: number, keySize: number, valuePtr: number, valueSizePtr: number): number {
      const map = headerMap(binding, mapType, false);
      if (!map) return map === null && binding.scope.stream?.isLogPhase === true ? Status.NotFound : Status.BadArgument;
      const memory = memoryOf(binding);
      const value = map.first(memory.readString(keyPtr, keySize));
      if (value === undefined) return Status.NotFound;
      memory.returnString(value, valuePtr, valueSizePtr);
      return Status.Ok;
    },
    proxy_add_header_map_value(mapType: number, keyPtr: number, keySize: number, valuePtr: number, valueSize: number): number {
      return writeHeader(binding, mapType, keyPtr, keySize, valuePtr, valueSize, false);
    },
    proxy_replace_header_map_value(mapType: number, keyPtr: number, keySize: number, valuePtr: number, valueSize: number): number {
      return writeHeader(binding, mapType, keyPtr, keySize, valuePtr, valueSize, true);
    },
    proxy_remove_header_map_value(mapType: number, keyPtr: number, keySize: number): number {
      const map = headerMap(binding, mapType, true);
      if (!map) return Status.BadArgument;
      map.remove(memoryOf(binding).readString(keyPtr, keySize));
      return Status.Ok;
    },
    proxy_get_buffer_status(bufferType: number, lengthPtr: number, flagsPtr: number): number {
      const data = buffer(binding, bufferType);
      if (typeof data === 'number') return data;
      const memory = memoryOf(binding);
      memory.writeU32(lengthPtr, data.length);
      memory.writeU32(flagsPtr, 0);
      return Status.Ok;
    },
    proxy_get_buffer_bytes(bufferType: number, start: number, maxSize: number, dataPtr: number, sizePtr: number): number {
      const data = buffer(binding, bufferType);
      if (typeof data === 'number') return data;
      const from = start >>> 0;
      if (from > data.length) return Status.BadArgument;
      const to = Math.min(data.length, from + (maxSize >>> 0));
      memoryOf(binding).returnBytes(data.subarray(from, to), dataPtr, sizePtr);
      return Status.Ok;
    },
    proxy_set_buffer_bytes(bufferType: number, start: number, size: number, dataPtr: number, dataSize: number): number {
      const stream = binding.scope.stream;
      if (bufferType !== BufferType.HttpRequestBody && bufferType !== BufferType.HttpResponseBody) {
        return bufferType > BufferType.ForeignFunctionArguments || bufferType < 0 ? Status.BadArgument : Status.NotFound;
      }
      if (stream === null) return Status.NotFound;
      const replacement = memoryOf(binding).copy(dataPtr, dataSize);
      const current = bufferType === BufferType.HttpRequestBody ? stream.requestBody : stream.responseBody;
      const next = copyFrom(current, start >>> 0, size >>> 0, replacement);
      if (next === null) return Status.BadArgument;
      if (bufferType === BufferType.HttpRequestBody) stream.requestBody = next;
      else stream.responseBody = next;
      return Status.Ok;
    },
    proxy_send_local_response(
      statusCode: number, detailsPtr: number, detailsSize: number, bodyPtr: number, bodySize: number,
      headersPtr: number, headersSize: number, _grpcStatus: number,
    ): number {
      const stream = binding.scope.stream;
      // On the root context Envoy has no stream to answer: the call succeeds and does nothing (an http-call
      // response must first make its stream the effective context).
      if (stream === null) return Status.Ok;
      const memory = memoryOf(binding);
      const details = memory.readString(detailsPtr, detailsSize);
      // No body (preflights, redirects): the shared empty array, not a copy (still bounds-checked).
      const body = bodySize === 0 ? (memory.check(bodyPtr, 0), EMPTY) : memory.copy(bodyPtr, bodySize);
      const headers = readPairs(binding, headersPtr, headersSize);
      if (headers === null || statusCode < 200 || statusCode > 599) return Status.BadArgument;
      // The first reply wins; Envoy ignores a second one on the same stream.
      if (stream.localReply === null) {
        stream.localReply = { action: 'localReply', status: statusCode, headers, body, details };
      }
      return Status.Ok;
    },
    proxy_continue_stream(streamType: number): number {
      const stream = binding.scope.stream;
      if (streamType !== StreamType.Request && streamType !== StreamType.Response) {
        return streamType === StreamType.Downstream || streamType === StreamType.Upstream ? Status.Unimplemented : Status.BadArgument;
      }
      if (stream === null) return Status.Ok;
      stream.continueRequested = true;
      // Envoy's Context::continueStream drops its request-side pointers (for either direction): from here the
      // request map answers BadArgument.
      stream.requestHeadersLive = false;
      return Status.Ok;
    },
    proxy_close_stream(streamType: number): number {
      const stream = binding.scope.stream;
      if (streamType < StreamType.Request || streamType > StreamType.Upstream) return Status.BadArgument;
      if (stream === null) return Status.Ok;
      stream.isClosed = true;
      return Status.Ok;
    },
    proxy_get_status(codePtr: number, messagePtr: number, messageSizePtr: number): number {
      const memory = memoryOf(binding);
      const { code, message } = binding.scope.status;
      memory.writeU32(codePtr, code);
      memory.returnString(message, messagePtr, messageSizePtr);
      return Status.Ok;
    },
  };
}

/** Envoy's Buffer::copyFrom rules for proxy_set_buffer_bytes: (0, 0) prepends, (0, >= length) replaces, a start at
 *  or past the end appends; anything else (a splice) is refused (null: BadArgument). */
function copyFrom(current: Uint8Array, start: number, length: number, data: Uint8Array): Uint8Array | null {
  if (start === 0 && length === 0) return concatBytes(data, current);
  if (start === 0 && length >= current.length) return data;
  if (start !== 0 && start >= current.length) return concatBytes(current, data);
  return null;
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
