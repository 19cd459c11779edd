import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Tracer } from '@opentelemetry/api';
import { answerUnread } from './auth/refuse-request.ts';
import type { Logger } from './logger.ts';
import type { ManagementMetrics } from './management-metrics.ts';
import { traceRequest } from './telemetry/request-span.ts';
import { unsafePathReason } from './unsafe-path.ts';

/** A handler answers the request and returns true, or returns false to let the next one try. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

/**
 * The management HTTP server on MANAGEMENT_PORT. Paths with dot, empty or encoded-slash segments are refused
 * first (400, body unread); then handlers are tried in array order (see platform.ts for the order and why); the
 * first that claims a request answers it.
 */
export function createManagementServer(handlers: readonly RouteHandler[], logger: Logger, metrics?: ManagementMetrics, tracer?: Tracer): Server {
  const log = logger.child({ component: 'management-http' });
  return createServer(async (req, res) => {
    metrics?.observe(req, res);
    if (tracer !== undefined) traceRequest(tracer, req, res);
    try {
      const unsafe = unsafePathReason(req.url ?? '/');
      if (unsafe !== null) {
        await answerUnread(req, res, 400, { 'content-type': 'application/json' }, JSON.stringify({ status: 'error', message: unsafe }));
        return;
      }
      for (const handler of handlers) {
        if (await handler(req, res)) return;
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Not Found' }));
    } catch (error: unknown) {
      log.error({ err: error, method: req.method, url: req.url }, 'unhandled management request error');
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'error', message: 'Unexpected error.' }));
      } else res.destroy();
    }
  });
}

export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
