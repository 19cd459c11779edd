// @peculiar/x509 resolves its ASN.1 providers through tsyringe, which refuses to load without the Reflect metadata
// API (https://github.com/PeculiarVentures/x509#-reflect-polyfill-required). These three functions are all tsyringe
// calls; no decorator metadata is emitted here, so the store only ever holds tsyringe's own injection tokens.
// TODO(#10): replace with `import 'reflect-metadata'` once that package is a dependency.
type MetadataReflect = typeof Reflect & {
  getMetadata?: (key: unknown, target: object) => unknown;
  getOwnMetadata?: (key: unknown, target: object) => unknown;
  defineMetadata?: (key: unknown, value: unknown, target: object) => void;
};

const reflect = Reflect as MetadataReflect;
if (!reflect.getMetadata) {
  const store = new WeakMap<object, Map<unknown, unknown>>();
  reflect.getOwnMetadata = (key, target) => store.get(target)?.get(key);
  reflect.getMetadata = (key, target) => {
    for (let at: object | null = target; at !== null; at = Object.getPrototypeOf(at) as object | null) {
      const value = store.get(at)?.get(key);
      if (value !== undefined) return value;
    }
    return undefined;
  };
  reflect.defineMetadata = (key, value, target) => {
    let entries = store.get(target);
    if (!entries) store.set(target, (entries = new Map()));
    entries.set(key, value);
  };
}
