import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { NoSchemaIntrospectionCustomRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { canManageApis } from '../domain/access/index.ts';
import type { Actor } from '../domain/context.ts';

/**
 * Who may see the schema: managers (admins, publishers) introspect and get "Did you mean …" suggestions;
 * consumers get neither, since a suggestion is introspection by guessing.
 */
export function mayIntrospect(actor: Actor): boolean {
  return canManageApis(actor);
}

/**
 * Adds graphql-js's introspection ban and armor's suggestion mask for everyone else. The added rule also keys
 * yoga's validation cache (by rule names), so a manager's cached result never answers a consumer.
 */
export function introspectionByRolePlugin(): Plugin<{ actor?: Actor | null }> {
  const blockSuggestions = blockFieldSuggestionsPlugin();
  return {
    onValidate(payload) {
      const actor = payload.context.actor;
      if (actor && mayIntrospect(actor)) return undefined;
      payload.addValidationRule(NoSchemaIntrospectionCustomRule);
      return blockSuggestions.onValidate?.(payload);
    },
  };
}
