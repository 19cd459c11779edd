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
  // Fixed parameters rather than rest arguments: no array per host call (the ABI's widest function takes 10).
  const wrapped: AnyArgs = (a, b, c, d, e, f, g, h, i, j) => {
    try {
      return call(a, b, c, d, e, f, g, h, i, j);
    } catch (error: unknown) {
      if (error instanceof GuestMemoryError) return memoryFault;
      if (error instanceof GuestExit) throw error;
      logger.error({ err: error, hostFunction: name }, 'proxy-wasm host function failed');
      return internal;
    }
  };
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
