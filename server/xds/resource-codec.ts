import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';
import type { Root, Type } from 'protobufjs';
import { envoyProtoRoot } from './envoy-proto-root.ts';
import { messageFromJson, messageToJson } from './proto-json.ts';
import type { EnvoyResource } from './resources.ts';

/** Envoy resources between the proto3-JSON contract of resources.ts and the protobuf bytes sent over ADS. */
export interface ResourceCodec {
  /** The message type for a type URL (`type.googleapis.com/x.y.Z`) or full name; throws when unknown. */
  type(typeUrlOrName: string): Type;
  /** A proto3-JSON message (with `@type` Anys inside) → its protobuf bytes, i.e. an Any's `value`. */
  encode(typeUrl: string, message: EnvoyResource): Uint8Array;
  /** Protobuf bytes → proto3 JSON (the inverse of `encode`, for ADS clients, tests and debugging). */
  decode(typeUrl: string, bytes: Uint8Array): Record<string, unknown>;
}

/**
 * Where @grpc/proto-loader finds ads.proto and its imports: the protos inside @grpc/grpc-js-xds (the same ones
 * envoy-proto-root.ts loads for validation).
 */
export const envoyProtoIncludeDirs: readonly string[] = (() => {
  const require = createRequire(import.meta.url);
  const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => join(deps, dir));
})();

export function createResourceCodec(root: Root = envoyProtoRoot()): ResourceCodec {
  const type = (typeUrlOrName: string): Type => {
    const name = typeUrlOrName.slice(typeUrlOrName.lastIndexOf('/') + 1).replace(/^\./, '');
    const found = root.lookup(name);
    if (!(found instanceof protobuf.Type)) throw new Error(`unknown protobuf message type '${name}'`);
    return found;
  };
  return {
    type,
    encode: (typeUrl, message) => {
      const messageType = type(typeUrl);
      // protobufjs handles `@type` in Any itself, but not the JSON forms of Duration, wrappers or Struct.
      const object = messageFromJson(messageType, message, type) as Record<string, unknown>;
      return messageType.encode(messageType.fromObject(object)).finish();
    },
    decode: (typeUrl, bytes) => {
      const messageType = type(typeUrl);
      const object = messageType.toObject(messageType.decode(bytes), { json: true, enums: String, longs: String });
      return messageToJson(messageType, object, type) as Record<string, unknown>;
    },
  };
}

let shared: ResourceCodec | null = null;

/** The process-wide codec over the process-wide Envoy proto root. */
export function resourceCodec(): ResourceCodec {
  shared ??= createResourceCodec();
  return shared;
}
