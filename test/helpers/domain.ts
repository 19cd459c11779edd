import { createHash } from 'node:crypto';
import type { Actor, DomainContext, PlatformKeys } from '../../server/domain/context.ts';
import { SecretBox } from '../../server/domain/secret-box.ts';
import { ChangeFeed, defaultSettings, systemActor } from '../../server/domain/context.ts';
import type { DatabaseHandle } from '../../server/db/client.ts';

/** Fixed keys of domain tests (derived, so a failing test's digests can be recomputed). */
export const testPlatformKeys: PlatformKeys = {
  digestKey: createHash('sha256').update('apip test digest key').digest(),
  box: new SecretBox(createHash('sha256').update('apip test secrets key').digest()),
};

/** A domain context over a test database, acting as `actor` (the system admin by default). */
export function domainContext(database: DatabaseHandle, actor: Actor = systemActor, now: () => Date = () => new Date()): DomainContext {
  return { db: database.db, actor, changes: new ChangeFeed(), now, settings: { ...defaultSettings }, keys: testPlatformKeys };
}
