import type { DeploymentStatus } from '../domain/deployment-status.ts';
import { type Reachability, reachabilities } from '../domain/reachability.ts';
import type { Problem } from '../domain/errors.ts';
import type { AdsStreamStatus } from './ads-stream.ts';

/** A translation problem ({severity, api, path, message}) or a strict-check finding ({resource, path, message}). */
function toProblem(raw: unknown): Problem {
  const value = (raw ?? {}) as Record<string, unknown>;
  const text = (key: string) => (typeof value[key] === 'string' ? (value[key] as string) : null);
  if ('resource' in value) {
    // A resource Envoy would refuse: the whole snapshot was held back, so this is an error of the configuration.
    return { severity: 'error', api: null, path: `${text('resource') ?? ''}${text('path') ? ` ${text('path')}` : ''}`, message: text('message') ?? '' };
  }
  return {
    severity: value.severity === 'warning' ? 'warning' : 'error',
    api: text('api'),
    path: text('path') ?? '',
    message: text('message') ?? '',
  };
}

/** The operator's view of what is served: pure, from the runner's and the ADS server's own state. */
export function deploymentStatusOf(
  version: string | null,
  problems: readonly unknown[],
  streams: readonly AdsStreamStatus[],
  reachability: Readonly<Record<string, string>> = {},
): DeploymentStatus {
  return {
    version,
    problems: problems.map(toProblem),
    apis: Object.entries(reachability)
      .filter((entry): entry is [string, Reachability] => (reachabilities as readonly string[]).includes(entry[1]))
      .map(([api, value]) => ({ api, reachability: value })),
    dataPlanes: streams.map((s) => ({
      nodeId: s.nodeId,
      resources: s.types.map((t) => ({
        typeUrl: t.typeUrl,
        sentVersion: t.sentVersion,
        ackedVersion: t.ackedVersion,
        rejection: t.lastNack?.message ?? null,
      })),
    })),
  };
}
