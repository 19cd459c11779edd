import type { Logger } from './logger.ts';
import { countUnexpectedError, type UnexpectedErrorSource } from './unexpected-errors.ts';

export interface ProcessFaultOptions {
  /** A fault seen again within this window is counted, not logged again. @default 60000 */
  repeatWindowMs?: number;
  /** Tests only. @default globalThis.process */
  process?: NodeJS.Process;
}

/** Distinct faults remembered for the repeat window; beyond this, the memory starts over (logs again). */
const maxRemembered = 256;

/** What makes two faults "the same": type, message and the top of the stack (where it was thrown). */
function fingerprintOf(error: unknown): string {
  if (!(error instanceof Error)) return `non-error: ${String(error).slice(0, 200)}`;
  const frames = (error.stack ?? '').split('\n').filter((line) => line.trimStart().startsWith('at ')).slice(0, 3);
  return [`${error.name}: ${error.message}`, ...frames].join('\n');
}

/**
 * The process-level policy for exceptions nothing handled (a driver's timer firing on a dead socket, a listener
 * throwing): count each in `apip_unexpected_errors_total{source}`, log it once with its stack and source (a burst
 * of the same fault is one line, then one line per window saying how often it repeated), and keep serving.
 * Node's default is to exit, which takes the gateway and every in-flight request down for one driver bug. Installed
 * by both entry points once they are started: a failure while starting still ends the process (exit code 1).
 * Returns a function that removes the handlers.
 */
export function installProcessFaultPolicy(logger: Logger, options: ProcessFaultOptions = {}): () => void {
  const target = options.process ?? process;
  const repeatWindowMs = options.repeatWindowMs ?? 60_000;
  const seen = new Map<string, { loggedAt: number; repeats: number }>();
  const log = logger.child({ component: 'process-faults' });

  const handle = (source: UnexpectedErrorSource, error: unknown): void => {
    countUnexpectedError(source);
    const fingerprint = `${source}\n${fingerprintOf(error)}`;
    const now = Date.now();
    const entry = seen.get(fingerprint);
    if (entry && now - entry.loggedAt < repeatWindowMs) {
      entry.repeats += 1;
      return;
    }
    if (seen.size >= maxRemembered) seen.clear();
    seen.set(fingerprint, { loggedAt: now, repeats: 0 });
    const repeats = entry?.repeats ?? 0;
    log.error(
      { err: error, source, ...(repeats > 0 ? { repeatsSinceLastLog: repeats } : {}) },
      repeats > 0 ? `unexpected exception (again, ${repeats} more since last logged); process kept running` : 'unexpected exception; process kept running',
    );
  };
  const onException = (error: Error) => handle('uncaught_exception', error);
  const onRejection = (reason: unknown) => handle('unhandled_rejection', reason);
  target.on('uncaughtException', onException);
  target.on('unhandledRejection', onRejection);
  return () => {
    target.off('uncaughtException', onException);
    target.off('unhandledRejection', onRejection);
  };
}
