import type { DataPlaneStatus, DeploymentStatus } from '../../domain/deployment-status.ts';
import type { Problem } from '../../domain/errors.ts';
import { getDeploymentStatus } from '../../domain/deployment-status.ts';
import { builder } from '../builder.ts';
import { ApiReachabilityEnum } from './apis.ts';

const ProblemSeverity = builder.enumType('DeploymentProblemSeverity', { values: ['error', 'warning'] as const });

const DeploymentProblemRef = builder.objectRef<Problem>('DeploymentProblem').implement({
  description: 'Why (part of) an API is not served: an error leaves the API out of the data-plane configuration.',
  fields: (t) => ({
    severity: t.field({ type: ProblemSeverity, resolve: (p) => p.severity }),
    api: t.exposeString('api', { nullable: true, description: 'The API handle; null for the whole configuration.' }),
    path: t.exposeString('path'),
    message: t.exposeString('message'),
  }),
});

type ResourceStatus = DataPlaneStatus['resources'][number];

const ResourceStatusRef = builder.objectRef<ResourceStatus>('DataPlaneResourceStatus').implement({
  fields: (t) => ({
    typeUrl: t.exposeString('typeUrl'),
    sentVersion: t.exposeString('sentVersion', { nullable: true }),
    ackedVersion: t.exposeString('ackedVersion', { nullable: true }),
    rejection: t.exposeString('rejection', { nullable: true, description: "The data plane's last NACK message." }),
  }),
});

const DataPlaneRef = builder.objectRef<DataPlaneStatus>('DataPlane').implement({
  description: 'A connected Envoy or remote gateway.',
  fields: (t) => ({
    nodeId: t.exposeString('nodeId'),
    resources: t.field({ type: [ResourceStatusRef], resolve: (d) => d.resources }),
  }),
});

const ServedApiRef = builder.objectRef<DeploymentStatus['apis'][number]>('ServedApi').implement({
  description: 'An API of the configuration being served and who can reach it.',
  fields: (t) => ({
    api: t.exposeString('api', { description: 'The API handle.' }),
    reachability: t.field({ type: ApiReachabilityEnum, resolve: (a) => a.reachability }),
  }),
});

const DeploymentStatusRef = builder.objectRef<DeploymentStatus>('DeploymentStatus').implement({
  fields: (t) => ({
    version: t.exposeString('version', { nullable: true }),
    problems: t.field({ type: [DeploymentProblemRef], resolve: (s) => s.problems }),
    apis: t.field({
      type: [ServedApiRef],
      description: 'Every API being served, by handle, with its reachability (OPEN ones admit anyone their own policies admit); APIs left out by a problem are not listed.',
      resolve: (s) => s.apis,
    }),
    dataPlanes: t.field({ type: [DataPlaneRef], resolve: (s) => s.dataPlanes }),
  }),
});

builder.queryField('deploymentStatus', (t) =>
  t.field({
    type: DeploymentStatusRef,
    description: 'The data-plane configuration being served, what could not be translated, and who accepted it.',
    authScopes: { manager: true },
    resolve: (_root, _args, ctx) => getDeploymentStatus(ctx.domain, ctx.deploymentStatus),
  }),
);
