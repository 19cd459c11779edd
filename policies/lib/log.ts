// Logging through proxy_log. Build a message only when `isLogEnabled(level)` says the host keeps it.
import { proxy_get_log_level, proxy_log, LogLevel, Status } from "./abi";
import { RETURN_U32 } from "./memory";

/** True when the host currently keeps messages at `level`. */
export function isLogEnabled(level: i32): bool {
  store<u32>(RETURN_U32, 0);
  if (proxy_get_log_level(RETURN_U32) != Status.Ok) return true;
  return level >= <i32>load<u32>(RETURN_U32);
}

export function log(level: i32, message: string): void {
  const bytes = String.UTF8.encode(message);
  proxy_log(<usize>level, changetype<usize>(bytes), <usize>bytes.byteLength);
}

export function logInfo(message: string): void { log(LogLevel.Info, message); }
export function logWarn(message: string): void { log(LogLevel.Warn, message); }
export function logError(message: string): void { log(LogLevel.Error, message); }
