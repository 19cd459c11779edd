import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Where the page loads its assets from: this server, never a CDN (the platform must work offline). */
export const graphiqlAssetsPath = '/graphql/assets/';

/** The files of @graphql-yoga/graphiql's dist/ the page needs; nothing else under that folder is served. */
const assets: Readonly<Record<string, string>> = {
  'yoga-graphiql.umd.js': 'text/javascript; charset=utf-8',
  'graphiql.css': 'text/css; charset=utf-8',
  'monacoeditorwork/editor.worker.bundle.js': 'text/javascript; charset=utf-8',
  'monacoeditorwork/json.worker.bundle.js': 'text/javascript; charset=utf-8',
  'monacoeditorwork/graphql.worker..bundle.js': 'text/javascript; charset=utf-8',
};

const distDir = dirname(createRequire(import.meta.url).resolve('@graphql-yoga/graphiql'));

/**
 * yoga's own GraphiQL page (graphql-yoga/cjs/graphiql-html.js) with every unpkg URL replaced by ours. The monaco
 * workers are fetched and started from blobs, as there.
 */
function page(endpoint: string): string {
  const at = (file: string) => `${graphiqlAssetsPath}${file}`;
  const options = JSON.stringify({ endpoint, title: 'apip GraphiQL' });
  return `<!doctype html><html lang=en><head><meta charset=utf-8><title>apip GraphiQL</title><link rel=icon href="data:,">
<link rel=stylesheet href="${at('graphiql.css')}"></head>
<body id=body class=no-focus-outline><noscript>You need to enable JavaScript to run this app.</noscript><div id=root>Loading GraphiQL...</div>
<script>
const workers = {};
const workerUrls = {
  editorWorkerService: ${JSON.stringify(at('monacoeditorwork/editor.worker.bundle.js'))},
  json: ${JSON.stringify(at('monacoeditorwork/json.worker.bundle.js'))},
  graphql: ${JSON.stringify(at('monacoeditorwork/graphql.worker..bundle.js'))},
};
function prepareWorkers() {
  return Promise.all(Object.entries(workerUrls).map(async ([label, url]) => {
    const text = await (await fetch(url)).text();
    workers[label] = URL.createObjectURL(new Blob([text], { type: 'application/javascript' }));
  }));
}
self.MonacoEnvironment = { globalAPI: false, getWorkerUrl: (_moduleId, label) => workers[label] };
</script>
<script src="${at('yoga-graphiql.umd.js')}"></script>
<script>prepareWorkers().finally(() => YogaGraphiQL.renderYogaGraphiQL(root, ${options}));</script>
</body></html>`;
}

/** A browser asking for the page: GET with HTML accepted (what yoga's own GraphiQL switch tests). */
export function isGraphiqlPageRequest(req: IncomingMessage): boolean {
  return req.method === 'GET' && (req.headers.accept ?? '').includes('text/html');
}

/**
 * Serves the GraphiQL page and its assets without authentication: they hold no data, and every request the page
 * then makes to /graphql is authenticated (the browser asks for Basic credentials on the first 401).
 * Returns false when the request is neither.
 */
export function serveGraphiql(req: IncomingMessage, res: ServerResponse, pathname: string, endpoint: string): boolean {
  if (pathname === endpoint && isGraphiqlPageRequest(req)) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }).end(page(endpoint));
    return true;
  }
  if (!pathname.startsWith(graphiqlAssetsPath)) return false;
  const file = pathname.slice(graphiqlAssetsPath.length);
  const type = Object.hasOwn(assets, file) ? assets[file] : undefined;
  if (type === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Not Found' }));
    return true;
  }
  res.writeHead(200, { 'content-type': type, 'cache-control': 'public, max-age=86400' });
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  createReadStream(join(distDir, file))
    .on('error', () => res.destroy())
    .pipe(res);
  return true;
}
