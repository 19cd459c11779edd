import type { GraphQLSchema } from 'graphql';
import { builder } from '../builder.ts';
// Side-effect imports: each module registers its types and root fields on the builder.
import '../errors.ts';
import './users.ts';
import './audit.ts';

export function toSchema(): GraphQLSchema {
  return builder.toSchema({ sortSchema: true });
}
