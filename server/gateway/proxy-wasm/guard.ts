// Wraps host import functions so a bad guest pointer yields INVALID_MEMORY_ACCESS (WASI: FAULT) instead of a JS
// exception inside the guest, and a host bug yields INTERNAL_FAILURE and one log line — never a crash.
import { Errno, Status } from './abi.ts';
import { GuestMemoryError } from './guest-memory.ts';
import type { PolicyLogger } from './types.ts';

type HostFunction = (...args: never[]) => number;

export class GuestExit extends Error {
  constructor(readonly code: number) {
    super(`module called proc_exit(${code})`);
    this.name = 'GuestExit';
  }
}

type AnyArgs = (a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown, g?: unknown, h?: unknown, i?: unknown, j?: unknown) => number;

function wrap<F extends HostFunction>(name: string, fn: F, logger: PolicyLogger, memoryFault: number, internal: number): F {
  const call = fn as unknown as AnyArgs;
  const fail = (error: unknown): number => {
    if (error instanceof GuestMemoryError) return memoryFault;
    if (error instanceof GuestExit) throw error;
    logger.error({ err: error, hostFunction: name }, 'proxy-wasm host function failed');
    return internal;
  };
  // Fixed parameters rather than rest arguments (no array per host call), and exactly as many as the function
  // declares: V8's wasm-to-JS call is fastest when the JS function's arity matches the import's signature.
  let wrapped: AnyArgs;
  switch (fn.length) {
    case 0: wrapped = () => { try { return call(); } catch (error: unknown) { return fail(error); } }; break;
    case 1: wrapped = (a) => { try { return call(a); } catch (error: unknown) { return fail(error); } }; break;
    case 2: wrapped = (a, b) => { try { return call(a, b); } catch (error: unknown) { return fail(error); } }; break;
    case 3: wrapped = (a, b, c) => { try { return call(a, b, c); } catch (error: unknown) { return fail(error); } }; break;
    case 4: wrapped = (a, b, c, d) => { try { return call(a, b, c, d); } catch (error: unknown) { return fail(error); } }; break;
    case 5: wrapped = (a, b, c, d, e) => { try { return call(a, b, c, d, e); } catch (error: unknown) { return fail(error); } }; break;
    case 6: wrapped = (a, b, c, d, e, f) => { try { return call(a, b, c, d, e, f); } catch (error: unknown) { return fail(error); } }; break;
    case 7: wrapped = (a, b, c, d, e, f, g) => { try { return call(a, b, c, d, e, f, g); } catch (error: unknown) { return fail(error); } }; break;
    case 8: wrapped = (a, b, c, d, e, f, g, h) => { try { return call(a, b, c, d, e, f, g, h); } catch (error: unknown) { return fail(error); } }; break;
    case 9: wrapped = (a, b, c, d, e, f, g, h, i) => { try { return call(a, b, c, d, e, f, g, h, i); } catch (error: unknown) { return fail(error); } }; break;
    default:
      wrapped = (a, b, c, d, e, f, g, h, i, j) => {
        try {
          return call(a, b, c, d, e, f, g, h, i, j);
        } catch (error: unknown) {
          return fail(error);
        }
      };
  }
  return wrapped as unknown as F;
}

/** Guards every proxy_* function of `functions`. */
export function guardProxyFunctions<T extends Record<string, HostFunction>>(functions: T, logger: PolicyLogger): T {
  const out: Record<string, HostFunction> = {};
  for (const [name, fn] of Object.entries(functions)) {
    out[name] = wrap(name, fn, logger, Status.InvalidMemoryAccess, Status.InternalFailure);
  }
  return out as T;
}

/** Guards every WASI function of `functions`. */
export function guardWasiFunctions<T extends Record<string, HostFunction>>(functions: T, logger: PolicyLogger): T {
  const out: Record<string, HostFunction> = {};
  for (const [name, fn] of Object.entries(functions)) {
    out[name] = wrap(name, fn, logger, Errno.Fault, Errno.Inval);
  }
  return out as T;
}
