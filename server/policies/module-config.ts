import { z } from 'zod';

/**
 * Pieces of the modules' plugin configurations (docs/policies.md) that several kinds share. Each kind's module
 * declares its whole configuration with these as a zod schema (`PolicyKindModule.configuration`): the translator's
 * and the wasm modules' tests validate against it, and docs/policies.md prints its JSON Schema. Objects are not
 * strict: the modules ignore unknown members (forward compatibility). A schema is the module's contract (what it
 * accepts, members with a default optional), so the translator's output and every configuration a module's tests
 * feed it must validate against it.
 */

export const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
/** A selection rule (docs/selection-rules.md); null or absent: always holds. */
export const selectionRule = z.string().nullable().optional();
export const scopesMode = z.enum(['any', 'all']);
export const claimToHeader = z.object({ claim: z.string(), header: z.string() });

/** Members the translator adds to every module's configuration. */
export function moduleConfiguration<S extends z.core.$ZodLooseShape>(shape: S, options: { digestKey?: boolean } = {}) {
  return z.object({
    // Client-sent x-apip-* headers are removed by the first module that runs on a route: true on every request
    // (the module is first on every route it runs on), else only on `stripIdentityRoutes`.
    stripIdentityHeaders: z.boolean().optional(),
    stripIdentityRoutes: z.array(z.string()).optional(),
    // Routes where this module is conditional (docs/execution-conditions.md): the index of its verdict in
    // `x-apip-conditions`, which the condition module (first on those routes) sets.
    when: z.record(z.string(), z.number().int().min(0)).optional(),
    // The platform's digest key, 32 bytes in hex.
    ...(options.digestKey ? { digestKey: z.string().regex(/^[0-9a-fA-F]{64}$/) } : {}),
    ...shape,
  });
}

/** Plan selection fields of an authentication module's route entry (docs/plan-selection.md). */
export const selectionEntry = { optional: z.boolean().optional(), plans: z.array(z.string()).nullable().optional() };

/** A client table entry of jwt and oauth2: one subscription of a client id. */
export const clientIdentity = z.object({
  applicationId: z.string().nullable(),
  subscriptionId: z.string().nullable(),
  plan: z.string().nullable(),
  active: z.boolean().optional(),
});
