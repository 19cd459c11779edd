import type { Actor, DomainContext } from '../../server/domain/context.ts';
import { ChangeFeed, defaultSettings, systemActor } from '../../server/domain/context.ts';
import type { DatabaseHandle } from '../../server/db/client.ts';

/** A domain context over a test database, acting as `actor` (the system admin by default). */
export function domainContext(database: DatabaseHandle, actor: Actor = systemActor, now: () => Date = () => new Date()): DomainContext {
  return { db: database.db, actor, changes: new ChangeFeed(), now, settings: { ...defaultSettings } };
}
