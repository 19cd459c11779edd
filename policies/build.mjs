#!/usr/bin/env node
// Compiles every policies/<name>/index.ts (every folder but lib/ and build/) with AssemblyScript into
// policies/build/<name>.wasm and writes policies/build/manifest.json:
//   { "<name>": { "file": "<name>.wasm", "sha256": "<hex>", "size": <bytes> } }
//
// Runs at every `npm install` (postinstall), so it compiles modules in parallel worker threads and skips a
// module whose sources (its folder + policies/lib + compiler version + flags) hash to what the last build
// recorded in policies/build/.sources.json. `--force` rebuilds everything; naming modules limits the build:
//   node policies/build.mjs [--force] [name ...]
// Exits non-zero when any module fails to compile.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const policiesDir = dirname(fileURLToPath(import.meta.url));
const rootDir = dirname(policiesDir);
const buildDir = join(policiesDir, 'build');
const libDir = join(policiesDir, 'lib');
const require_ = (p) => join(rootDir, 'node_modules', p);

// Flags fixed by the issue: the WASI shim's config (AssemblyScript's std lib talks WASI, which Envoy provides),
// an abort that logs through proxy_log and traps, and full optimisation.
const ascFlags = [
  '--config', require_('@assemblyscript/wasi-shim/asconfig.json'),
  '--use', 'abort=abort_proc_exit',
  '-O3',
];

// Flags for one module on top of ascFlags. jwt carries RSA, ECDSA, EdDSA and HMAC verification and is the one
// module at its size budget (100 KB, test/policies/imports.test.ts): Binaryen's size-aware passes at level 1 (still
// -O3) take it from 102.8 to 90.2 KB for +3-8 % of its time, which RSA dominates (bench/policies.ts: uncached
// ~80 -> ~83 µs, cached ~4.6 -> ~5.0 µs, targets 150 and 10). Every module at this level would cost api-key and
// subscription-validation 13-15 % (api-key 4.7 -> 5.4 µs, over its 5 µs target), so the others keep -O3 alone.
const moduleFlags = {
  jwt: ['--shrinkLevel', '1'],
};

// asc's default listFiles joins an absolute library path onto baseDir; resolve it instead.
async function listLibraryFiles(dir, baseDir) {
  try {
    return (await readdir(resolve(baseDir, dir))).filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'));
  } catch {
    return null;
  }
}

/** Compiles one module in this (worker) thread; resolves to the diagnostics text or null. */
async function compileOne(name) {
  const { default: asc } = await import('assemblyscript/asc');
  let stderrText = '';
  const stderr = { write: (chunk) => { stderrText += String(chunk); return true; } };
  const stdout = { write: () => true };
  const { error } = await asc.main([
    join(policiesDir, name, 'index.ts'),
    ...ascFlags,
    ...(moduleFlags[name] ?? []),
    '--outFile', join(buildDir, `${name}.wasm`),
    '--baseDir', rootDir,
  ], { stdout, stderr, listFiles: listLibraryFiles });
  return error ? `${stderrText}\n${error.message}` : null;
}

if (!isMainThread) {
  compileOne(workerData.name).then(
    (problem) => parentPort.postMessage({ problem }),
    (cause) => parentPort.postMessage({ problem: String(cause?.stack ?? cause) }),
  );
} else {
  await main();
}

function listModules() {
  return readdirSync(policiesDir)
    .filter((entry) => entry !== 'lib' && entry !== 'build' && !entry.startsWith('.'))
    .filter((entry) => statSync(join(policiesDir, entry)).isDirectory())
    .filter((entry) => existsSync(join(policiesDir, entry, 'index.ts')))
    .sort();
}

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? listFiles(path) : [path];
  }).sort();
}

function hashSources(name, compilerVersion) {
  const hash = createHash('sha256');
  hash.update(`${compilerVersion}\0${[...ascFlags, ...(moduleFlags[name] ?? [])].join(' ')}\0`);
  for (const file of [...listFiles(libDir), ...listFiles(join(policiesDir, name))]) {
    hash.update(relative(policiesDir, file));
    hash.update('\0');
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return {};
  }
}

function compileInWorker(name) {
  return new Promise((resolve) => {
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { name } });
    worker.once('message', ({ problem }) => resolve(problem));
    worker.once('error', (cause) => resolve(String(cause?.stack ?? cause)));
    worker.once('exit', (code) => { if (code !== 0) resolve(`worker exited with code ${code}`); });
  });
}

async function runPool(names, limit) {
  const problems = new Map();
  const queue = [...names];
  const workers = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const problem = await compileInWorker(name);
      if (problem) problems.set(name, problem);
    }
  });
  await Promise.all(workers);
  return problems;
}

async function main() {
  const started = Date.now();
  const args = process.argv.slice(2);
  const force = args.includes('--force');
  const requested = args.filter((arg) => !arg.startsWith('--'));
  const all = listModules();
  const unknown = requested.filter((name) => !all.includes(name));
  if (unknown.length > 0) {
    console.error(`policies: unknown module(s): ${unknown.join(', ')}`);
    process.exit(1);
  }
  const selected = requested.length > 0 ? requested : all;
  mkdirSync(buildDir, { recursive: true });

  const compilerVersion = readJson(require_('assemblyscript/package.json')).version ?? 'unknown';
  const sourcesPath = join(buildDir, '.sources.json');
  const previousSources = readJson(sourcesPath);
  const sourceHashes = Object.fromEntries(selected.map((name) => [name, hashSources(name, compilerVersion)]));
  const stale = selected.filter((name) =>
    force || previousSources[name] !== sourceHashes[name] || !existsSync(join(buildDir, `${name}.wasm`)));

  const problems = await runPool(stale, Math.max(1, availableParallelism()));

  // The manifest always describes every module present on disk, so a partial build keeps the others listed.
  const manifest = {};
  const nextSources = { ...previousSources };
  for (const name of all) {
    const file = join(buildDir, `${name}.wasm`);
    if (problems.has(name)) {
      delete nextSources[name];
      continue;
    }
    if (!existsSync(file)) continue;
    const bytes = readFileSync(file);
    manifest[name] = { file: `${name}.wasm`, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
    if (sourceHashes[name]) nextSources[name] = sourceHashes[name];
  }
  writeFileSync(join(buildDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(sourcesPath, `${JSON.stringify(nextSources, null, 2)}\n`);

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const built = stale.filter((name) => !problems.has(name));
  const lines = selected.map((name) => {
    const entry = manifest[name];
    const state = problems.has(name) ? 'FAILED' : built.includes(name) ? 'built' : 'up to date';
    return `  ${name.padEnd(26)} ${state.padEnd(10)} ${entry ? `${(entry.size / 1024).toFixed(1)} KB` : ''}`;
  });
  console.log(`policies: ${built.length} built, ${selected.length - stale.length} up to date, ${problems.size} failed in ${seconds}s`);
  console.log(lines.join('\n'));
  for (const [name, problem] of problems) {
    console.error(`\npolicies: ${name} failed to compile:\n${problem.trim()}`);
  }
  if (problems.size > 0) process.exit(1);
}
