// The worker thread's entry: Node 20 does not apply the `--import` loaders of execArgv (tsx) to a worker's own
// entry, and a test runner's process has none; so register tsx here, then load the TypeScript worker.
const { register } = await import('tsx/esm/api');
register();
await import('./gateway-worker.ts');
