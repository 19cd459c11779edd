import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../logger.ts';

/** At most one log line per interval, with how many overflows it stands for. @default 60_000 */
export function createBurstLog(log: Logger, intervalMs = 60_000): () => void {
  let lastLogged = -Infinity;
  let count = 0;
  return () => {
    count += 1;
    const now = Date.now();
    if (now - lastLogged < intervalMs) return;
    log.warn({ count }, 'graphql documents nested beyond the parser stack refused');
    lastLogged = now;
    count = 0;
  };
}

/**
 * A document nested deeply enough overflows graphql-js's recursive parser (a RangeError, not a GraphQLError):
 * answer it as the 400 it is and log bursts, not a stack trace per request. Sits after the token limit in the
 * plugin list, so it wraps the parser that limit installed.
 */
export function parseOverflowGuardPlugin(onOverflow: () => void): Plugin {
  return {
    onParse({ parseFn, setParseFn }) {
      setParseFn((source, options) => {
        try {
          return parseFn(source, options);
        } catch (error: unknown) {
          if (!(error instanceof RangeError)) throw error;
          onOverflow();
          throw new GraphQLError('Syntax Error: the document is nested too deeply.', { extensions: { code: 'GRAPHQL_PARSE_FAILED', http: { status: 400 } } });
        }
      });
    },
  };
}
