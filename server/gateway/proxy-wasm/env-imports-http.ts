// proxy_* functions on HTTP streams: header maps, buffers, local replies, continue/close.
import { BufferType, MapType, Status, StreamType } from './abi.ts';
import { HeaderMap, parsePairs } from './header-map.ts';
import { type HostBinding, memoryOf } from './host-binding.ts';
import type { HeaderList } from './types.ts';

/** The header map `mapType` in the current scope; null = not available now, undefined = unknown map type. */
function headerMap(binding: HostBinding, mapType: number, forWrite: boolean): HeaderMap | null | undefined {
  const scope = binding.scope;
  const stream = scope.stream;
  switch (mapType) {
    case MapType.RequestHeaders: return stream === null ? null : stream.requestHeaders;
    case MapType.RequestTrailers: return stream === null ? null : stream.requestTrailers;
    case MapType.ResponseHeaders: return stream === null ? null : stream.responseHeaders;
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

function mapStatus(map: HeaderMap | null | undefined): number {
  return map === undefined ? Status.BadArgument : Status.NotFound;
}

/** The buffer `bufferType` in the current scope, or a status when unavailable. */
/** proxy_add_header_map_value (`replace` false: another value beside those there) and proxy_replace_header_map_value. */
function writeHeader(
  binding: HostBinding, mapType: number, keyPtr: number, keySize: number, valuePtr: number, valueSize: number, replace: boolean,
): number {
  const map = headerMap(binding, mapType, true);
  if (!map) return mapStatus(map);
  const memory = memoryOf(binding);
  const name = memory.readString(keyPtr, keySize);
  const value = memory.readString(valuePtr, valueSize);
  if (replace) map.replace(name, value);
  else map.add(name, value);
  return Status.Ok;
}

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
  return parsePairs(memoryOf(binding).bytesAt(ptr, size));
}

export function createHttpStreamImports(binding: HostBinding) {
  return {
    proxy_get_header_map_size(mapType: number, sizePtr: number): number {
      const map = headerMap(binding, mapType, false);
      if (!map) return mapStatus(map);
      memoryOf(binding).writeU32(sizePtr, map.serializedSize());
      return Status.Ok;
    },
    proxy_get_header_map_pairs(mapType: number, dataPtr: number, sizePtr: number): number {
      const map = headerMap(binding, mapType, false);
      if (!map) return mapStatus(map);
      memoryOf(binding).returnPairs(map, dataPtr, sizePtr);
      return Status.Ok;
    },
    proxy_set_header_map_pairs(mapType: number, dataPtr: number, size: number): number {
      const map = headerMap(binding, mapType, true);
      if (!map) return mapStatus(map);
      const pairs = readPairs(binding, dataPtr, size);
      if (pairs === null) return Status.BadArgument;
      map.setAll(pairs);
      return Status.Ok;
    },
    proxy_get_header_map_value(mapType: number, keyPtr: number, keySize: number, valuePtr: number, valueSizePtr: number): number {
      const map = headerMap(binding, mapType, false);
      if (!map) return mapStatus(map);
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
      if (!map) return mapStatus(map);
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
      const from = Math.min(start >>> 0, current.length);
      const to = Math.min(current.length, from + (size >>> 0));
      const next = new Uint8Array(from + replacement.length + (current.length - to));
      next.set(current.subarray(0, from), 0);
      next.set(replacement, from);
      next.set(current.subarray(to), from + replacement.length);
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
      const body = memory.copy(bodyPtr, bodySize);
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

