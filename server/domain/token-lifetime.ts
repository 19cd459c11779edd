import { z } from 'zod';
import { parseDurationMs } from './durations.ts';

// How long a JWT plan lets a token live (`maxTokenLifetime`, docs/plan-selection.md): validated at write as a
// Go-style duration (server/domain/durations.ts), stored as given, shipped to the jwt module in seconds.

/** The longest `maxTokenLifetime` a JWT plan may set (the jwt module's bound too): a year. */
export const maxTokenLifetimeSeconds = 365 * 24 * 3600;
/** A new JWT plan's `maxTokenLifetime` when it requires `exp` and names none (docs/plan-selection.md). */
export const defaultMaxTokenLifetime = '24h';

/** Go-style duration (server/domain/durations.ts) of whole seconds, 1s..8760h: JWT times are whole seconds. */
export const tokenLifetime = z.string().max(64).superRefine((value, ctx) => {
  const ms = parseDurationMs(value);
  if (ms === null) ctx.addIssue({ code: 'custom', message: 'Must be a duration such as 15m, 1h or 24h' });
  else if (ms % 1000 !== 0) ctx.addIssue({ code: 'custom', message: 'Must be a whole number of seconds' });
  else if (ms < 1000 || ms > maxTokenLifetimeSeconds * 1000) ctx.addIssue({ code: 'custom', message: 'Must be between 1s and 8760h' });
});

/** Seconds of a stored `maxTokenLifetime` (validated at write), or null for none. */
export function tokenLifetimeSeconds(value: string | null | undefined): number | null {
  const ms = value == null ? null : parseDurationMs(value);
  return ms === null ? null : Math.round(ms / 1000);
}
