import { readFileSync } from 'node:fs';
import { inject } from 'vitest';
import { startMemoryDatabasesFrom } from '../../server/db/client.ts';

// setupFile of the database and platform projects: every PGlite `memory://` database this file opens, directly or
// through the platform, starts from the run's migrated template (test/helpers/template.ts) instead of initdb + migrations.
startMemoryDatabasesFrom(new Blob([readFileSync(inject('pgliteTemplate'))]));
