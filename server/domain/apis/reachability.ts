import type { DomainContext } from '../context.ts';
import { servingPlanTypesOfApis } from '../plans/index.ts';
import { type Reachability, reachabilityOf } from '../reachability.ts';
import type { Api } from './model.ts';

/**
 * Batch loader for `Api.reachability`: how each API is reachable now, by the one access rule
 * (domain/reachability.ts), in the order given; one query whatever the number of APIs. The APIs are ones the
 * actor has already read.
 */
export async function loadApiReachability(ctx: DomainContext, apis: readonly Pick<Api, 'id' | 'accessMode' | 'deploymentState' | 'visibility'>[]): Promise<Reachability[]> {
  const serving = await servingPlanTypesOfApis(ctx.db, apis.map((api) => api.id));
  return apis.map((api) =>
    reachabilityOf({ accessMode: api.accessMode, isDeployed: api.deploymentState === 'deployed', servingPlanTypes: serving.get(api.id) ?? [], isPrivate: api.visibility === 'private' }),
  );
}
