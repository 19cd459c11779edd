import type { GraphQLSchema } from 'graphql';
import { builder } from '../builder.ts';
// Side-effect imports: each module registers its types and root fields on the builder.
import '../errors.ts';
import './users.ts';
import './apis.ts';
import './api-members.ts';
import './subscription-plans.ts';
import './policies.ts';
import './plans.ts';
import './applications.ts';
import './audit.ts';
import './deployment.ts';
import './api-keys.ts';
import './subscriptions.ts';
import './analytics.ts';
import './authorization-servers.ts';
import './key-managers.ts';
import './data-planes.ts';

export function toSchema(): GraphQLSchema {
  return builder.toSchema({ sortSchema: true });
}
