// A tiny WebAssembly binary builder for host tests that need a misbehaving module (no wat2wasm on our machines).
// Only what the tests use: i32 function types, function imports, one exported memory, exported functions.

const I32 = 0x7f;

export interface FunctionType {
  params: number;
  results: 0 | 1;
}

export interface ImportSpec {
  module: string;
  name: string;
  type: FunctionType;
}

export interface FunctionSpec {
  export: string;
  type: FunctionType;
  /** Instruction bytes of the body, without locals declaration or the final `end`. */
  body: number[];
}

function uleb(value: number): number[] {
  const out: number[] = [];
  let rest = value >>> 0;
  do {
    let byte = rest & 0x7f;
    rest >>>= 7;
    if (rest !== 0) byte |= 0x80;
    out.push(byte);
  } while (rest !== 0);
  return out;
}

/** Signed LEB128 for i32.const immediates. */
export function sleb(value: number): number[] {
  const out: number[] = [];
  let rest = value | 0;
  for (;;) {
    const byte = rest & 0x7f;
    rest >>= 7;
    if ((rest === 0 && (byte & 0x40) === 0) || (rest === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...uleb(bytes.length), ...bytes];
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

function vector(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/** Instruction helpers. */
export const op = {
  localGet: (index: number) => [0x20, ...uleb(index)],
  i32Const: (value: number) => [0x41, ...sleb(value)],
  call: (index: number) => [0x10, ...uleb(index)],
  drop: () => [0x1a],
  unreachable: () => [0x00],
  i32Eq: () => [0x46],
  ifEmpty: () => [0x04, 0x40],
  end: () => [0x0b],
  i32Store: () => [0x36, 0x02, 0x00],
  i32Load: () => [0x28, 0x02, 0x00],
};

export function buildModule(imports: ImportSpec[], functions: FunctionSpec[]): Uint8Array {
  const types: FunctionType[] = [];
  const typeIndex = (type: FunctionType): number => {
    const found = types.findIndex((t) => t.params === type.params && t.results === type.results);
    if (found >= 0) return found;
    types.push(type);
    return types.length - 1;
  };
  const importEntries = imports.map((spec) => [...name(spec.module), ...name(spec.name), 0x00, ...uleb(typeIndex(spec.type))]);
  const functionTypes = functions.map((spec) => uleb(typeIndex(spec.type)));
  const typeEntries = types.map((type) => [0x60, ...uleb(type.params), ...Array<number>(type.params).fill(I32), type.results, ...(type.results ? [I32] : [])]);
  const exportEntries = [
    [...name('memory'), 0x02, 0x00],
    ...functions.map((spec, i) => [...name(spec.export), 0x00, ...uleb(imports.length + i)]),
  ];
  const codeEntries = functions.map((spec) => {
    const body = [0x00, ...spec.body, 0x0b];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector(typeEntries)),
    ...(imports.length > 0 ? section(2, vector(importEntries)) : []),
    ...section(3, vector(functionTypes)),
    ...section(5, vector([[0x00, 0x01]])),
    ...section(7, vector(exportEntries)),
    ...section(10, vector(codeEntries)),
  ]);
}

/** The exports every proxy-wasm module needs; the allocator hands out a fixed address (enough for one call). */
export function baseFunctions(): FunctionSpec[] {
  return [
    { export: 'proxy_abi_version_0_2_1', type: { params: 0, results: 0 }, body: [] },
    { export: 'proxy_on_memory_allocate', type: { params: 1, results: 1 }, body: op.i32Const(4096) },
    { export: 'proxy_on_context_create', type: { params: 2, results: 0 }, body: [] },
  ];
}
