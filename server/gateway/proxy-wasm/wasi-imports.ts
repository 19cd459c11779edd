// The WASI (snapshot preview1) functions AssemblyScript's wasi-shim imports, as the proxy-wasm spec defines them
// for hosts: fd_write logs (stdout at info, stderr at error), clocks come from the host clock, no arguments or
// environment variables are exposed, proc_exit stops the guest.
import { randomFillSync } from 'node:crypto';
import { Errno } from './abi.ts';
import { GuestExit, guardWasiFunctions } from './guard.ts';
import { type HostBinding, memoryOf } from './host-binding.ts';

const MAX_RANDOM_BYTES = 65_536;

export function createWasiImports(binding: HostBinding): WebAssembly.ModuleImports {
  const { logger, clock, plugin } = binding.services;
  /** args_sizes_get, environ_sizes_get: no arguments, no environment variables. */
  const noStrings = (countPtr: number, sizePtr: number): number => {
    const memory = memoryOf(binding);
    memory.writeU32(countPtr, 0);
    memory.writeU32(sizePtr, 0);
    return Errno.Success;
  };
  const functions = {
    fd_write(fd: number, iovs: number, iovsCount: number, writtenPtr: number): number {
      if (fd !== 1 && fd !== 2) return Errno.Badf;
      const memory = memoryOf(binding);
      memory.check(iovs, (iovsCount >>> 0) * 8);
      let message = '';
      let written = 0;
      for (let i = 0; i < iovsCount >>> 0; i++) {
        const ptr = memory.readU32(iovs + i * 8);
        const length = memory.readU32(iovs + i * 8 + 4);
        message += memory.readString(ptr, length);
        written += length;
      }
      memory.writeU32(writtenPtr, written);
      const fields = { plugin: plugin.name, message: message.replace(/\n$/, '') };
      if (fd === 1) logger.info(fields, 'policy stdout');
      else logger.error(fields, 'policy stderr');
      return Errno.Success;
    },
    proc_exit(code: number): number {
      throw new GuestExit(code);
    },
    clock_time_get(clockId: number, _precision: bigint, resultPtr: number): number {
      const memory = memoryOf(binding);
      if (clockId === 0) memory.writeU64(resultPtr, clock.nowNanos());
      else if (clockId === 1) memory.writeU64(resultPtr, process.hrtime.bigint());
      else return Errno.Notsup;
      return Errno.Success;
    },
    random_get(bufferPtr: number, length: number): number {
      if (length >>> 0 > MAX_RANDOM_BYTES) return Errno.Inval;
      const memory = memoryOf(binding);
      const bytes = new Uint8Array(length >>> 0);
      randomFillSync(bytes);
      memory.writeBytes(bufferPtr, bytes);
      return Errno.Success;
    },
    args_sizes_get: noStrings,
    args_get(_argvPtr: number, _bufferPtr: number): number {
      return Errno.Success;
    },
    environ_sizes_get: noStrings,
    environ_get(_environPtr: number, _bufferPtr: number): number {
      return Errno.Success;
    },
  };
  return guardWasiFunctions(functions, logger);
}
