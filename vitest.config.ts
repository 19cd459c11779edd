import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('.', import.meta.url));

/** Whole platforms, gateways, child processes and sockets. */
const platformSuites = ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'];

/** Other suites that open a database: those that import its helper. Everything else is pure. */
const databaseSuites = readdirSync(join(root, 'test'), { recursive: true, encoding: 'utf8' })
  .map((file) => `test/${file}`)
  .filter((file) => /^test\/(unit|policies|golden)\/.*\.test\.ts$/.test(file))
  .filter((file) => readFileSync(join(root, file), 'utf8').includes('/helpers/database.ts'));

/** Migrate once per run; every suite's database is a copy of the template (docs/conventions.md, Tests). */
const templateDatabases = { globalSetup: ['test/helpers/template.ts'], setupFiles: ['test/helpers/setup-template.ts'] };

export default defineConfig({
  resolve: {
    // graphql 16 has no `exports` map: Node loads index.js for libraries while Vite would give our
    // files index.mjs, two realms whose GraphQLError fails `instanceof`. Pin ours to Node's choice.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    // PGlite start-up and wasm compilation dominate; two cores on our machines.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Vitest's default is cores - 1, one worker on our 2 cores; platform suites spend much of their time waiting on
    // sockets, timers and the data plane, so three workers keep both cores busy.
    maxWorkers: 3,
    projects: [
      {
        extends: true,
        test: {
          name: 'pure',
          include: ['test/**/*.test.ts'],
          exclude: [...databaseSuites, ...platformSuites],
          // No database, no sockets: worker threads start faster than processes. Isolation stays on: without it the
          // AssemblyScript compiler's module state leaks between files that compile fixtures with different options.
          pool: 'threads',
          isolate: true,
        },
      },
      {
        extends: true,
        test: {
          name: 'database',
          include: databaseSuites,
          ...templateDatabases,
          pool: 'forks',
          // One import of the server per worker, not per file: files clean up what they start (afterAll), and the
          // modules' own caches (Envoy protos, compiled policies) are what every file would build again.
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'platform',
          include: platformSuites,
          ...templateDatabases,
          // Processes rather than threads: platforms hold ports, sockets and timers, and some tests spawn children.
          // Not isolated, as above: each file starts and closes its own platforms.
          pool: 'forks',
          isolate: false,
        },
      },
    ],
  },
});
