import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import madge from 'madge';
import { beforeAll, describe, expect, it } from 'vitest';

// The shape docs/architecture.md promises a newcomer, checked so that it stays true.
const root = fileURLToPath(new URL('../../', import.meta.url));
const server = `${root}server`;
const maxLines = 450;

let graph: Record<string, string[]>;
let circles: string[][];

beforeAll(async () => {
  // Type-only imports count: a circle of types still ties the modules' meanings together.
  const result = await madge(server, {
    fileExtensions: ['ts'],
    tsConfig: `${root}tsconfig.json`,
    detectiveOptions: { ts: { skipTypeImports: false } },
  });
  graph = result.obj();
  circles = result.circular();
});

describe('server/ architecture', () => {
  it('has no import circle', () => {
    expect(circles).toEqual([]);
  });

  it('has no file over 450 lines', () => {
    const long = Object.keys(graph)
      .map((file) => ({ file, lines: readFileSync(`${server}/${file}`, 'utf8').split('\n').length }))
      .filter(({ lines }) => lines > maxLines);
    expect(long).toEqual([]);
  });

  it('keeps the IR free of any policy filter', () => {
    expect((graph['xds/ir.ts'] ?? []).filter((dep) => dep.includes('filters/'))).toEqual([]);
  });

  it('keeps the domain free of HTTP, GraphQL and the data planes', () => {
    const leaks = Object.entries(graph)
      .filter(([file]) => file.startsWith('domain/'))
      .flatMap(([file, deps]) => deps.filter((dep) => /^(graphql|rest|gateway|xds)\//.test(dep)).map((dep) => `${file} → ${dep}`));
    expect(leaks).toEqual([]);
  });

  it('keeps the gateway free of the domain and the database', () => {
    const leaks = Object.entries(graph)
      .filter(([file]) => file.startsWith('gateway/'))
      .flatMap(([file, deps]) => deps.filter((dep) => /^(domain|db)\//.test(dep)).map((dep) => `${file} → ${dep}`));
    expect(leaks).toEqual([]);
  });
});
