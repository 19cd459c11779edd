import { requireRole } from './access/index.ts';
import type { DomainContext } from './context.ts';
import type { Problem } from './errors.ts';
import type { Reachability } from './reachability.ts';

/** One connected data plane (an Envoy or a remote gateway) and what it accepted, per resource type. */
export interface DataPlaneStatus {
  nodeId: string;
  resources: { typeUrl: string; sentVersion: string | null; ackedVersion: string | null; rejection: string | null }[];
}

export interface DeploymentStatus {
  /** The configuration version being served, null before the first one. */
  version: string | null;
  /** What the control plane could not turn into data-plane configuration (translation and strict-check findings). */
  problems: Problem[];
  /**
   * How each API of the configuration being served is reachable (domain/reachability.ts), by handle: OPEN ones
   * admit anyone their own policies admit. An API left out by an error (see `problems`) is not listed.
   */
  apis: { api: string; reachability: Reachability }[];
  dataPlanes: DataPlaneStatus[];
}

/** Supplied by the composition root, which owns the xDS runner; the domain only guards who may read it. */
export type DeploymentStatusReader = () => DeploymentStatus;

/** What operators need to see when an API does not serve traffic: publishers and admins only. */
export function getDeploymentStatus(ctx: DomainContext, read: DeploymentStatusReader): DeploymentStatus {
  requireRole(ctx.actor, 'admin', 'publisher');
  return read();
}
