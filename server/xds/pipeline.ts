import type { PolicyModule } from '../policy-modules.ts';
import { sampledShare, type TracingConfig } from '../telemetry/tracing-config.ts';
import { loadDeploymentModel, nextDeploymentChangeAt } from '../domain/deployment.ts';
import { JwksResolver } from './jwks-resolver.ts';
import type { DeploymentModel } from '../domain/deployment-model.ts';
import type { SnapshotPipeline } from './runner.ts';
import type { PlatformKeys } from '../domain/context.ts';
import type { IrDownstreamTls } from './ir.ts';
import { translate } from './translate/translate.ts';
import { ValidationCache, validateResourcesAsync } from './validate.ts';

export interface SnapshotPipelineOptions {
  /** The compiled modules, whose sha256 the wasm filter configs carry. */
  policyModules: ReadonlyMap<string, PolicyModule>;
  /** Where data planes fetch `/policies/<name>.wasm`: this control plane's management URL. */
  controlPlaneUrl: string;
  /** Port of the generated HTTP listener (what Envoy binds; the embedded gateway binds its own). */
  listenerPort: number;
  /** Downstream TLS of the generated listener (config.ts `gatewayTls`). @default plaintext */
  downstreamTls?: IrDownstreamTls | undefined;
  /** How often JWKS URLs are re-fetched; changed keys trigger a rebuild. @default 300 */
  jwksRefreshSeconds?: number | undefined;
  /** GATEWAY_KEYS plans' trusted public keys per issuer (config.ts `GATEWAY_JWT_KEYS`). */
  gatewayJwtKeys?: Readonly<Record<string, readonly Record<string, unknown>[]>> | undefined;
  /** The digest key travels to the key-checking modules; sealed secrets are opened for the model. */
  keys: PlatformKeys;
  /** Uncached basic-auth checks a data plane may run per second, in PBKDF2 iterations. @default the module's (300,000) */
  basicAuthIterationsPerSecond?: number | undefined;
  /** Envoy's tracer sends to the same collector, with the same sampling. @default no tracing */
  tracing?: TracingConfig | null | undefined;
}

/**
 * The real steps between the database and a snapshot: the domain's deployment model, JWT keys resolved with
 * jose (JWKS documents cached by the resolver), the pure translator, then the strict check against Envoy's protos
 * (incremental and sliced, validate.ts).
 */
export function createSnapshotPipeline(options: SnapshotPipelineOptions): SnapshotPipeline<DeploymentModel> {
  const modules = Object.fromEntries([...options.policyModules].map(([name, module]) => [name, { sha256: module.sha256 }]));
  const keyDigestSecret = options.keys.digestKey.toString('hex');
  const budget = options.basicAuthIterationsPerSecond;
  const moduleSettings = budget === undefined ? undefined : { 'basic-auth': { pbkdf2IterationsPerSecond: budget } };
  const jwks = new JwksResolver({ ttlMs: (options.jwksRefreshSeconds ?? 300) * 1000, gatewayKeys: options.gatewayJwtKeys });
  // Units (clusters, routes) unchanged since the last check keep their result: a rebuild after one API changed
  // checks that API, and the check yields to the event loop while it runs.
  const validation = new ValidationCache();
  const tracing = options.tracing
    ? { collectorUrl: options.tracing.tracesEndpoint, serviceName: `${options.tracing.serviceName}-envoy`, samplingPercent: sampledShare(options.tracing) * 100 }
    : undefined;
  return {
    loadModel: (db, now) => loadDeploymentModel(db, now, options.keys.box),
    resolveJwks: (model) => jwks.resolve(model),
    translate: (model) => translate(model, { controlPlaneUrl: options.controlPlaneUrl, listenerPort: options.listenerPort, downstreamTls: options.downstreamTls, modules, keyDigestSecret, moduleSettings, tracing }),
    validate: (resources) => validateResourcesAsync(resources, validation),
    nextChangeAt: (db, now) => nextDeploymentChangeAt(db, now),
    // Rotated IdP keys are pushed without waiting for a write.
    watch: (onChange) => jwks.watch(onChange),
    keysMayHaveRotated: (api) => jwks.refreshSoon(api),
  };
}
