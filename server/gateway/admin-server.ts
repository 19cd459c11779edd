// The gateway's admin port (Envoy's admin on 9901 is the model): /metrics in the Prometheus text format and
// /ready (200 once a configuration is being served). Separate from the traffic port so that no route of an API
// can shadow it and it can stay off public interfaces.
import { createServer, type Server } from 'node:http';

/** `render` gives the /metrics text (with worker threads, after asking every worker for its counters). */
export function createAdminServer(render: () => Promise<string> | string, isReady: () => boolean): Server {
  return createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      let body: string;
      try {
        body = await render();
      } catch {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (req.method === 'GET' && path === '/ready') {
      const ready = isReady();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ready ? 'LIVE\n' : 'PRE_INITIALIZING\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'Not Found' }));
  });
}
