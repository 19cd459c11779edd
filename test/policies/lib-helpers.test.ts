// The shared helpers the policy modules were refactored onto (policies/lib): table entries with problem paths,
// the Authorization scheme comparison, claim helpers and the SHA-256 state functions PBKDF2 uses.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import asc from 'assemblyscript/asc';
import { beforeAll, describe, expect, it } from 'vitest';

interface HelperExports {
  tableEntries(json: string, arrays: boolean): string;
  startsWithIgnoringCase(text: string, lowerPrefix: string): boolean;
  claimText(json: string): string | null;
  scopesSatisfied(wanted: string, strict: boolean, held: string): boolean;
  sha256ByStates(data: Uint8Array): Uint8Array;
}

const entry = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'lib-helpers-entry.ts');
let lib: HelperExports;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'apip-lib-helpers-'));
  try {
    const outFile = join(dir, 'helpers.wasm');
    let diagnostics = '';
    const { error } = await asc.main(
      [entry, '--outFile', outFile, '--bindings', 'raw', '-O3'],
      { stderr: { write: (chunk: string | Uint8Array): boolean => { diagnostics += String(chunk); return true; } } },
    );
    if (error) throw new Error(`helpers fixture failed to compile: ${error.message}\n${diagnostics}`);
    const module = await WebAssembly.compile(readFileSync(outFile));
    const bindings = (await import(pathToFileURL(join(dir, 'helpers.js')).href)) as {
      instantiate(module: WebAssembly.Module, imports: { env: unknown }): Promise<HelperExports>;
    };
    lib = await bindings.instantiate(module, { env: {} });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

describe('lib/config table entries', () => {
  it('yields the object members in document order with their paths and reports the others in place', () => {
    expect(lib.tableEntries('{"b":{},"a":1,"c":{"x":1},"d":[]}', false).split('\n')).toEqual([
      'b@$.t["b"]', 'c@$.t["c"]', '!$.t["a"]: must be an object; $.t["d"]: must be an object',
    ]);
  });

  it('yields the array members when arrays are wanted', () => {
    expect(lib.tableEntries('{"s":[],"o":{}}', true).split('\n')).toEqual(['s@$.t["s"]', '!$.t["o"]: must be an array']);
  });

  it('yields nothing for a missing table', () => {
    expect(lib.tableEntries('[]', false)).toBe('!');
  });
});

describe('lib/headers startsWithIgnoringCase', () => {
  it('compares the scheme ASCII case-insensitively', () => {
    expect(lib.startsWithIgnoringCase('Bearer abc', 'bearer ')).toBe(true);
    expect(lib.startsWithIgnoringCase('BEARER abc', 'bearer ')).toBe(true);
    expect(lib.startsWithIgnoringCase('Basic abc', 'bearer ')).toBe(false);
  });

  it('is false when the text is shorter than the prefix', () => {
    expect(lib.startsWithIgnoringCase('Bear', 'bearer ')).toBe(false);
    expect(lib.startsWithIgnoringCase('', 'bearer ')).toBe(false);
  });
});

describe('lib/claims', () => {
  it('prints claims as header values', () => {
    expect(lib.claimText('"a b"')).toBe('a b');
    expect(lib.claimText('true')).toBe('true');
    expect(lib.claimText('42')).toBe('42');
    expect(lib.claimText('1.5')).toBe('1.5');
    expect(lib.claimText('["x","y"]')).toBe('x,y');
    expect(lib.claimText('["x",1]')).toBeNull();
    expect(lib.claimText('{"a":1}')).toBeNull();
    expect(lib.claimText('null')).toBeNull();
  });

  it('checks scopes: all when strict, any one otherwise, none wanted is satisfied', () => {
    expect(lib.scopesSatisfied('', true, '')).toBe(true);
    expect(lib.scopesSatisfied('a b', true, 'a b c')).toBe(true);
    expect(lib.scopesSatisfied('a b', true, 'a c')).toBe(false);
    expect(lib.scopesSatisfied('a b', false, 'b')).toBe(true);
    expect(lib.scopesSatisfied('a b', false, 'c')).toBe(false);
  });
});

describe('lib/crypto/sha256 state functions', () => {
  it('give the SHA-256 digest when chained over a two-block message', () => {
    for (const length of [65, 100, 119]) {
      const data = randomBytes(length);
      expect(Buffer.from(lib.sha256ByStates(new Uint8Array(data))).toString('hex'))
        .toBe(createHash('sha256').update(data).digest('hex'));
    }
  });
});
