import type { Root, Type } from 'protobufjs';
import { messageFromJson, messageToJson } from './proto-json.ts';
import { envoyProtoRoot, messageType } from './protos.ts';
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

export function createResourceCodec(root: Root = envoyProtoRoot()): ResourceCodec {
  const type = (typeUrlOrName: string): Type => messageType(root, typeUrlOrName);
  return {
    type,
    encode: (typeUrl, message) => {
      const found = type(typeUrl);
      const object = messageFromJson(found, message, root) as Record<string, unknown>;
      return found.encode(found.fromObject(object)).finish();
    },
    decode: (typeUrl, bytes) => {
      const found = type(typeUrl);
      return messageToJson(found, found.decode(bytes) as unknown as Record<string, unknown>, root) as Record<string, unknown>;
    },
  };
}

let shared: ResourceCodec | null = null;

/** The process-wide codec over the process-wide Envoy proto root. */
export function resourceCodec(): ResourceCodec {
  shared ??= createResourceCodec();
  return shared;
}
