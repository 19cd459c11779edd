import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { connect as connectHttp2, constants } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultXdsConfig } from '../../../server/config.ts';
import { typeUrls } from '../../../server/envoy/resources.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { TestEnvoy } from '../xds/ads-client.ts';

// The xDS port faces data planes (and, on a network, anyone): whatever arrives on it ends one stream at most, never
// the process. Plaintext on loopback so the bytes reach gRPC rather than stopping at the TLS handshake.

const services = {
  ads: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
  accessLog: '/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs',
};

/** gRPC length-prefixed messages: flag byte, 4-byte big-endian length, then the bytes. */
function grpcFrame(message: Buffer, declaredLength = message.length): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([header, message]);
}

/** Sends `body` as one gRPC call on `path` over HTTP/2 and returns the grpc-status it ended with. */
function sendRawCall(port: number, path: string, body: Buffer): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let status: string | null = null;
    stream.on('response', (headers) => {
      status ??= (headers['grpc-status'] as string | undefined) ?? null;
    });
    stream.on('trailers', (trailers) => {
      status = (trailers['grpc-status'] as string | undefined) ?? status;
    });
    stream.on('data', () => {});
    stream.on('error', () => {});
    stream.on('close', () => {
      session.close();
      resolve(status);
    });
    stream.end(body);
  });
}

describe('the xDS port given malformed messages', () => {
  let t: TestPlatform;
  let port: number;

  beforeAll(async () => {
    t = await startTestPlatform('pglite', { xds: { ...defaultXdsConfig, isPlaintext: true } });
    port = t.platform.ports.xds ?? 0;
  });
  afterAll(async () => {
    await t?.close();
  });

  /** The port still serves configuration to a well-behaved data plane. */
  async function expectStillServing(): Promise<void> {
    const envoy = TestEnvoy.connect(port, 'well-behaved', grpc.credentials.createInsecure());
    try {
      envoy.request({ typeUrl: typeUrls.cluster });
      expect((await envoy.next(typeUrls.cluster)).versionInfo).toBe(t.platform.snapshots.current()?.version);
    } finally {
      envoy.close();
    }
  }

  it.each(Object.entries(services))('ends only the %s stream that sent bytes that are no protobuf', async (_name, path) => {
    const status = await sendRawCall(port, path, grpcFrame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0xee])));
    expect(status).not.toBe(String(grpc.status.OK));
    await expectStillServing();
  });

  it.each(Object.entries(services))('survives a %s stream that ends inside a frame longer than what was sent', async (_name, path) => {
    await sendRawCall(port, path, grpcFrame(randomBytes(8), 1 << 20));
    await expectStillServing();
  });

  it.each(Object.entries(services))('ends only the %s stream that sent random messages', async (_name, path) => {
    const frames = Array.from({ length: 20 }, () => grpcFrame(randomBytes(64)));
    await sendRawCall(port, path, Buffer.concat(frames));
    await expectStillServing();
  });

  it('survives bytes that are not HTTP/2 at all', async () => {
    await new Promise<void>((resolve) => {
      const socket = connectTcp(port, '127.0.0.1', () => socket.end(Buffer.concat([Buffer.from('GET / HTTP/1.1\r\n\r\n'), randomBytes(512)])));
      socket.on('data', () => {});
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
    });
    await expectStillServing();
  });

  it('answers a well-formed request for an unknown resource type without ending the process', async () => {
    const envoy = TestEnvoy.connect(port, 'odd-type', grpc.credentials.createInsecure());
    try {
      envoy.request({ typeUrl: 'type.googleapis.com/not.a.Type' });
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      envoy.close();
    }
    await expectStillServing();
  });
});
