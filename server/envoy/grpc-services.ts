import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { envoyProtoIncludeDirs } from './protos.ts';

/** How a service's messages reach the handlers: 64-bit integers as numbers or strings, absent fields as defaults or not. */
export interface ServiceMessageForm {
  longs: typeof Number | typeof String;
  defaults: boolean;
}

/**
 * A gRPC service of Envoy's own protos (`file` under envoy-api), for @grpc/grpc-js: keepCase field names, as
 * grpc-js-xds loads them. Throws when the file does not define `service` with `method`.
 */
export function envoyGrpcService(file: string, service: string, method: string, form: ServiceMessageForm): grpc.ServiceDefinition {
  const loaded = protoLoader.loadSync(file, {
    keepCase: true,
    longs: form.longs,
    enums: String,
    defaults: form.defaults,
    oneofs: true,
    includeDirs: [...envoyProtoIncludeDirs],
  });
  const found = loaded[service];
  if (!found || !(method in found)) throw new Error(`${service} not found in ${file.slice(file.lastIndexOf('/') + 1)}`);
  return found as unknown as grpc.ServiceDefinition;
}
