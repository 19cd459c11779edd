import type { Problem } from '../../domain/errors.ts';
import type { DeploymentModel } from '../../domain/deployment-model.ts';
import type { EnvoyResources } from '../../envoy/resources.ts';
import type { IrSnapshot } from '../ir.ts';
import { buildIr, type TranslateOptions } from './build-ir.ts';
import { buildClusters, defaultTrustedCa } from './envoy-clusters.ts';
import { buildListener } from './envoy-listener.ts';
import { buildRouteConfiguration } from './envoy-routes.ts';

export type { TranslateOptions } from './build-ir.ts';

export interface TranslateResult {
  resources: EnvoyResources;
  /** Errors (that API left out) and warnings, sorted by API then path. */
  problems: Problem[];
  /** How each translated API (by handle) is reachable; APIs left out by an error are absent. */
  reachability: IrSnapshot['reachability'];
}

export interface ExtraTranslateOptions {
  /** CA bundle that https upstreams' certificates are verified against. @default '/etc/ssl/certs/ca-certificates.crt' */
  upstreamTrustedCa?: string;
}

/**
 * The deployment model as Envoy v3 resources (proto3 JSON, see resources.ts): model -> IR (build-ir.ts) ->
 * one Listener, one RouteConfiguration, the Clusters and the ClusterLoadAssignments of EDS clusters, each list
 * sorted by name. Pure: no database, clock, randomness, environment or logger; identical input gives identical
 * output on every replica. Callers check the result with `validateResources` before publishing it.
 */
export function translate(model: DeploymentModel, options: TranslateOptions & ExtraTranslateOptions): TranslateResult {
  const { ir, problems } = buildIr(model, options);
  const { clusters, loadAssignments } = buildClusters(ir, options.upstreamTrustedCa ?? defaultTrustedCa);
  return {
    resources: {
      listener: [buildListener(ir)],
      routeConfiguration: [buildRouteConfiguration(ir)],
      cluster: clusters,
      clusterLoadAssignment: loadAssignments,
    },
    problems,
    reachability: ir.reachability,
  };
}
