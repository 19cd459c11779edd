// What the embedded gateway's server is made of, read from the same Listener Envoy gets: the filter chain's TLS
// transport socket (DownstreamTlsContext: certificate, key, client CA by DataSource, require_client_certificate,
// ALPN) and the HCM's HTTP/2 limits and upgrade configs. Files are read here, at build time, so a snapshot naming a
// missing file is refused (the last configuration keeps serving) rather than failing connections later.
import { readFile } from 'node:fs/promises';
import { extensionNames, extensionTypeUrls } from '../envoy/resources.ts';
import { arrayAt, booleanAt, ConfigError, type JsonObject, objectAt, stringAt } from './json-fields.ts';

export interface DownstreamTls {
  cert: string;
  key: string;
  /** Client certificates are asked for and verified against this CA bundle; null: not asked for. */
  ca: string | null;
  /** `require_client_certificate`: a client without a verified certificate is refused in the handshake. */
  isClientCertRequired: boolean;
  alpnProtocols: string[];
}

export interface DownstreamSettings {
  tls: DownstreamTls | null;
  /** HCM `http2_protocol_options`: node:http2 settings of h2 connections. */
  http2: { maxConcurrentStreams: number; initialWindowSize: number };
  /** HCM `upgrade_configs` has `websocket` (enabled): Upgrade requests are proxied, else answered as plain requests. */
  isWebSocketEnabled: boolean;
  /** Equal for settings that make the same server (compared when a configuration is swapped in). */
  identity: string;
}

/** Envoy's defaults for HTTP/2 (max_concurrent_streams 2^31-1, initial_stream_window_size 256 MiB) are a proxy's
 *  own; node caps the window at 2^31-1, and these are what the gateway used before reading them. */
const defaultHttp2 = { maxConcurrentStreams: 100, initialWindowSize: 65_535 };

/** A DataSource: `filename` (read on this machine) or `inline_string` / `inline_bytes`. */
async function readDataSource(source: JsonObject | undefined, where: string): Promise<string> {
  if (source === undefined) throw new ConfigError(`${where} is required`);
  const filename = stringAt(source, 'filename', where);
  if (filename !== undefined) {
    try {
      return await readFile(filename, 'utf8');
    } catch (error: unknown) {
      throw new ConfigError(`${where}.filename: cannot read '${filename}' (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
  }
  const inline = stringAt(source, 'inlineString', where);
  if (inline !== undefined) return inline;
  const bytes = stringAt(source, 'inlineBytes', where);
  if (bytes !== undefined) return Buffer.from(bytes, 'base64').toString('utf8');
  throw new ConfigError(`${where} needs filename, inlineString or inlineBytes`);
}

async function readTls(socket: JsonObject, where: string): Promise<DownstreamTls> {
  const name = stringAt(socket, 'name', where);
  const typed = objectAt(socket, 'typedConfig', where);
  if (name !== extensionNames.tlsTransportSocket || typed?.['@type'] !== extensionTypeUrls.downstreamTlsContext) {
    throw new ConfigError(`${where}: transport socket ${String(name)} is not supported (envoy.transport_sockets.tls with a DownstreamTlsContext)`);
  }
  const at = `${where}.typedConfig`;
  const common = objectAt(typed, 'commonTlsContext', at);
  if (common === undefined) throw new ConfigError(`${at}.commonTlsContext is required`);
  const certificates = arrayAt(common, 'tlsCertificates', `${at}.commonTlsContext`);
  if (certificates.length !== 1) throw new ConfigError(`${at}.commonTlsContext.tlsCertificates must hold one certificate (SDS is not supported)`);
  const certificate = certificates[0] as JsonObject;
  const certAt = `${at}.commonTlsContext.tlsCertificates[0]`;
  const validation = objectAt(common, 'validationContext', `${at}.commonTlsContext`);
  const trustedCa = validation === undefined ? undefined : objectAt(validation, 'trustedCa', `${at}.commonTlsContext.validationContext`);
  const isClientCertRequired = booleanAt(typed, 'requireClientCertificate', at) === true;
  if (isClientCertRequired && trustedCa === undefined) throw new ConfigError(`${at}.requireClientCertificate needs commonTlsContext.validationContext.trustedCa`);
  const rawAlpn = common.alpnProtocols ?? [];
  if (!Array.isArray(rawAlpn) || !rawAlpn.every((p) => typeof p === 'string')) throw new ConfigError(`${at}.commonTlsContext.alpnProtocols must be a list of strings`);
  const alpn = rawAlpn as string[];
  return {
    cert: await readDataSource(objectAt(certificate, 'certificateChain', certAt), `${certAt}.certificateChain`),
    key: await readDataSource(objectAt(certificate, 'privateKey', certAt), `${certAt}.privateKey`),
    ca: trustedCa === undefined ? null : await readDataSource(trustedCa, `${at}.commonTlsContext.validationContext.trustedCa`),
    isClientCertRequired,
    // Envoy without alpn_protocols negotiates none, which the HCM's AUTO codec reads as HTTP/1.1.
    alpnProtocols: alpn.length > 0 ? alpn : ['http/1.1'],
  };
}

function positiveIntAt(object: JsonObject, key: string, where: string, fallback: number): number {
  const value = object[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 2 ** 31 - 1) throw new ConfigError(`${where}.${key} must be a positive integer`);
  return value;
}

/** The downstream settings of the filter chain `chain` whose HCM is `hcm`. */
export async function readDownstream(chain: JsonObject, hcm: JsonObject, where: string): Promise<DownstreamSettings> {
  const socket = objectAt(chain, 'transportSocket', where);
  let tls: DownstreamTls | null = null;
  if (socket !== undefined && objectAt(socket, 'typedConfig', `${where}.transportSocket`)?.['@type'] !== extensionTypeUrls.rawBuffer) {
    tls = await readTls(socket, `${where}.transportSocket`);
  }
  const h2 = objectAt(hcm, 'http2ProtocolOptions', where);
  const http2 = h2 === undefined ? defaultHttp2 : {
    maxConcurrentStreams: positiveIntAt(h2, 'maxConcurrentStreams', `${where}.http2ProtocolOptions`, defaultHttp2.maxConcurrentStreams),
    initialWindowSize: positiveIntAt(h2, 'initialStreamWindowSize', `${where}.http2ProtocolOptions`, defaultHttp2.initialWindowSize),
  };
  const isWebSocketEnabled = arrayAt(hcm, 'upgradeConfigs', where).some((config, i) =>
    stringAt(config, 'upgradeType', `${where}.upgradeConfigs[${i}]`)?.toLowerCase() === 'websocket'
    && booleanAt(config, 'enabled', `${where}.upgradeConfigs[${i}]`) !== false);
  return { tls, http2, isWebSocketEnabled, identity: JSON.stringify([tls, http2]) };
}
