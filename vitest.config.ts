import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 has no `exports` map: Node loads index.js for libraries while Vite would give our
    // files index.mjs, two realms whose GraphQLError fails `instanceof`. Pin ours to Node's choice.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // PGlite start-up and wasm compilation dominate; two cores on our machines.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
