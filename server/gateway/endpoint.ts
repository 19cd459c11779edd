// An upstream endpoint and how to reach it: the leaf types the cluster, pool, health and outlier modules share.

export interface Endpoint {
  readonly address: string;
  readonly port: number;
  /** What `auto_host_rewrite` puts in Host: the endpoint's `hostname`, else the DNS name of a DNS cluster. */
  readonly hostname: string | undefined;
  readonly weight: number;
}

export interface UpstreamTls {
  readonly sni: string | undefined;
  /** Envoy verifies the upstream certificate only when a validation context with trusted CAs is configured. */
  readonly verify: boolean;
  /** PEM from `trusted_ca.inline_string`; the system CAs otherwise. */
  readonly ca: string | undefined;
}

/** What connecting to a cluster's endpoints depends on. */
export interface ConnectionSettings {
  readonly tls: UpstreamTls | null;
  readonly connectTimeoutMs: number;
}
