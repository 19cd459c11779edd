import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { DiscoveryRequest, DiscoveryResponse } from '../../../server/xds/ads-stream.ts';
import { envoyProtoIncludeDirs } from '../../../server/envoy/protos.ts';
import { resourceCodec } from '../../../server/envoy/resource-codec.ts';

export interface ReceivedResponse {
  versionInfo: string;
  nonce: string;
  typeUrl: string;
  /** Resource names in the order sent (`name`, or `clusterName` for endpoints). */
  names: string[];
  /** Each resource decoded back to JSON with Envoy's protos. */
  resources: Record<string, unknown>[];
}

interface RequestInit {
  typeUrl: string;
  resourceNames?: string[];
  versionInfo?: string;
  responseNonce?: string;
  error?: string;
}

type AdsClientStream = grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
type AdsClientConstructor = new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client & {
  StreamAggregatedResources(): AdsClientStream;
  DeltaAggregatedResources(): grpc.ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>;
};

/** Opens a delta ADS stream and resolves with the gRPC status code it ends with. */
export function deltaStatus(port: number, credentials: grpc.ChannelCredentials): Promise<number> {
  constructor ??= adsClientConstructor();
  const client = new constructor(`127.0.0.1:${port}`, credentials);
  const stream = client.DeltaAggregatedResources();
  return new Promise((resolve) => {
    stream.on('error', (error: grpc.ServiceError) => {
      client.close();
      resolve(error.code);
    });
    stream.on('data', () => {});
    stream.write({ type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster', node: { id: 'delta' } });
  });
}

function adsClientConstructor(): AdsClientConstructor {
  const definition = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [...envoyProtoIncludeDirs],
  });
  const service = definition['envoy.service.discovery.v3.AggregatedDiscoveryService'] as unknown as grpc.ServiceDefinition;
  return grpc.makeGenericClientConstructor(service, 'AggregatedDiscoveryService') as unknown as AdsClientConstructor;
}

let constructor: AdsClientConstructor | null = null;

/** A data plane speaking state-of-the-world ADS over a real gRPC connection, as Envoy does. */
export class TestEnvoy {
  private readonly received: ReceivedResponse[] = [];
  private readonly waiters: (() => void)[] = [];
  private ended = false;
  /** The gRPC status the stream ended with (null while open, or after a clean end). */
  private endCode: number | null = null;

  private constructor(
    private readonly client: grpc.Client,
    private readonly stream: AdsClientStream,
    readonly nodeId: string,
  ) {
    stream.on('data', (response: DiscoveryResponse) => {
      const codec = resourceCodec();
      const resources = response.resources.map((any) => codec.decode(any.type_url, any.value));
      this.received.push({
        versionInfo: response.version_info,
        nonce: response.nonce,
        typeUrl: response.type_url,
        names: resources.map((resource) => String(resource.name ?? resource.clusterName)),
        resources,
      });
      for (const wake of this.waiters.splice(0)) wake();
    });
    stream.on('error', (error: grpc.ServiceError) => {
      this.ended = true;
      this.endCode = error.code;
      for (const wake of this.waiters.splice(0)) wake();
    });
    stream.on('end', () => {
      this.ended = true;
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** A stream with `credentials` (a data-plane certificate, or none) whose requests name `nodeId`. */
  static connect(port: number, nodeId: string, credentials: grpc.ChannelCredentials): TestEnvoy {
    constructor ??= adsClientConstructor();
    const client = new constructor(`127.0.0.1:${port}`, credentials);
    return new TestEnvoy(client, client.StreamAggregatedResources(), nodeId);
  }

  /** Resolves with the gRPC status code the stream ended with; fails after `timeoutMs` if it stays open. */
  async closedWith(timeoutMs = 5000): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`stream still open after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.endCode;
  }

  /** Every response received so far, read or not. */
  get responseCount(): number {
    return this.received.length;
  }

  request(init: RequestInit): void {
    this.stream.write({
      version_info: init.versionInfo ?? '',
      node: { id: this.nodeId, cluster: 'test' },
      resource_names: init.resourceNames ?? [],
      type_url: init.typeUrl,
      response_nonce: init.responseNonce ?? '',
      error_detail: init.error ? { code: 3, message: init.error } : null,
    });
  }

  ack(response: ReceivedResponse, resourceNames: string[] = []): void {
    this.request({ typeUrl: response.typeUrl, versionInfo: response.versionInfo, responseNonce: response.nonce, resourceNames });
  }

  nack(response: ReceivedResponse, lastGoodVersion: string, error: string, resourceNames: string[] = []): void {
    this.request({ typeUrl: response.typeUrl, versionInfo: lastGoodVersion, responseNonce: response.nonce, resourceNames, error });
  }

  /** The next unread response (of `typeUrl` when given, skipping none of the others); fails after `timeoutMs`. */
  async next(typeUrl?: string, timeoutMs = 5000): Promise<ReceivedResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.received.findIndex((response) => !typeUrl || response.typeUrl === typeUrl);
      if (index >= 0) return this.received.splice(index, 1)[0] as ReceivedResponse;
      if (this.ended) throw new Error(`stream ended while waiting for ${typeUrl ?? 'a response'}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${typeUrl ?? 'response'} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Responses received and not yet read, after giving the server `settleMs` to send more. */
  async pending(settleMs = 100): Promise<ReceivedResponse[]> {
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    return [...this.received];
  }

  close(): void {
    this.stream.end();
    this.client.close();
  }
}
