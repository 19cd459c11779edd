import type { PolicyModule } from '../policy-modules.ts';
import { loadDeploymentModel, nextDeploymentChangeAt } from '../domain/deployment.ts';
import { JwksResolver } from './jwks-resolver.ts';
import type { DeploymentModel } from '../domain/deployment-model.ts';
import type { SnapshotPipeline } from './runner.ts';
import { translate } from './translate/translate.ts';
import { validateResources } from './validate.ts';

export interface SnapshotPipelineOptions {
  /** The compiled modules, whose sha256 the wasm filter configs carry. */
  policyModules: ReadonlyMap<string, PolicyModule>;
  /** Where data planes fetch `/policies/<name>.wasm`: this control plane's management URL. */
  controlPlaneUrl: string;
  /** Port of the generated HTTP listener (what Envoy binds; the embedded gateway binds its own). */
  listenerPort: number;
}

/**
 * The real steps between the database and a snapshot: the domain's deployment model, JWT keys resolved with
 * jose (JWKS documents cached by the resolver), the pure translator, then the strict check against Envoy's protos.
 */
export function createSnapshotPipeline(options: SnapshotPipelineOptions): SnapshotPipeline<DeploymentModel> {
  const modules = Object.fromEntries([...options.policyModules].map(([name, module]) => [name, { sha256: module.sha256 }]));
  const jwks = new JwksResolver();
  return {
    loadModel: (db, now) => loadDeploymentModel(db, now),
    resolveJwks: (model) => jwks.resolve(model),
    translate: (model) => translate(model, { controlPlaneUrl: options.controlPlaneUrl, listenerPort: options.listenerPort, modules }),
    validate: (resources) => validateResources(resources),
    nextChangeAt: (db, now) => nextDeploymentChangeAt(db, now),
  };
}
