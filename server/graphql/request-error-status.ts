import type { Plugin } from 'graphql-yoga';

const requestErrorCodes = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED']);

/** graphql-armor's limit errors carry no code; masked resolver errors and the 401 always do. */
const isRequestError = (code: unknown) => code === undefined || requestErrorCodes.has(String(code));

/**
 * A document that does not parse or validate (limits included) is answered 400 whatever the client accepts.
 * yoga follows GraphQL over HTTP's legacy rule and answers such errors 200 to `Accept: application/json`, which
 * hides a refused document from proxies, metrics and scripts that look at the status.
 */
export function requestErrorStatusPlugin(): Plugin {
  return {
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result) || Symbol.asyncIterator in result || 'data' in result) return;
      const errors = result.errors ?? [];
      if (errors.length === 0 || !errors.every((e) => isRequestError(e.extensions?.code))) return;
      setResult({ ...result, extensions: { ...result.extensions, http: { status: 400 } } });
    },
  };
}
