import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeDrivers } from '../helpers/database.ts';
import { expectServedConfigValid, waitServed } from '../helpers/plans-traffic.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { type RestClient, restClient } from '../helpers/rest.ts';
import { freshRestApi } from '../helpers/rest-seed.ts';
import { type Recorder, send, startRecorder } from '../helpers/traffic.ts';

type Spec = Record<string, unknown>;
const get = (path: string) => ({ method: 'GET', path });
const policy = (name: string, params: Record<string, unknown>) => ({ name, version: 'v1', params });

/** The two virtual hosts every API with a sandbox upstream is served on (reference fact 14). */
const vhosts = [
  { vhost: 'main', host: 'client.example.com', upstream: 'main' },
  { vhost: 'sandbox', host: 'sandbox-routing.example.com', upstream: 'sandbox' },
] as const;

// Issue 14, "Routing" and the host-rewrite and request-rewrite policies: APIs created over REST v0.9, traffic through
// the embedded gateway to real upstreams that record the path and Host they received; every case on the main
// vhost (`*`) and the sandbox vhost (`sandbox-*`), whose upstream has a base path of its own.
describe.each(shapeDrivers)('traffic: v0.9 routing as the reference gateway (%s)', (driver) => {
  let t: TestPlatform;
  let rest: RestClient;
  let gw: number;
  const upstreams: Record<'main' | 'sandbox' | 'rootMain' | 'rootSandbox', Recorder> = {} as never;

  /** Creates (and so deploys) an API over REST; `base` picks the upstreams: with base paths, or at the root. */
  async function deploy(name: string, base: 'paths' | 'root', edit: (spec: Spec) => void): Promise<void> {
    const [main, sandbox] = base === 'paths' ? [`${upstreams.main.url}/base`, `${upstreams.sandbox.url}/sbx`] : [upstreams.rootMain.url, upstreams.rootSandbox.url];
    const body = freshRestApi(name, (b) => {
      b.spec.policies = [];
      b.spec.upstream = { main: { url: main }, sandbox: { url: sandbox } };
      edit(b.spec);
    });
    const res = await rest.post('/rest-apis', body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }

  /** What the upstream of `vhost` saw for one request (path with query, Host), or the gateway's status. */
  async function through(vhost: (typeof vhosts)[number], path: string, options: { method?: string; root?: boolean } = {}): Promise<{ status: number; url?: string; host?: string }> {
    const recorder = recorderOf(vhost.upstream, options.root === true);
    const method = options.method ?? 'GET';
    const mark = recorder.received.length;
    const answer = await send(gw, path, { method, headers: { host: vhost.host } });
    const seen = recorder.since(mark);
    if (answer.status !== 200 || seen.length !== 1) return { status: answer.status };
    return { status: 200, url: seen[0]!.url, host: seen[0]!.headers.host };
  }
  const recorderOf = (which: 'main' | 'sandbox', root: boolean) => (root ? upstreams[which === 'main' ? 'rootMain' : 'rootSandbox'] : upstreams[which]);

  beforeAll(async () => {
    upstreams.main = await startRecorder('main');
    upstreams.sandbox = await startRecorder('sandbox');
    upstreams.rootMain = await startRecorder('root-main');
    upstreams.rootSandbox = await startRecorder('root-sandbox');
    t = await startTestPlatform(driver);
    rest = restClient(t);
    gw = t.platform.ports.gateway ?? 0;
    await deploy('routing', 'paths', (s) => {
      s.operations = [get('/books'), get('/books/{id}'), get('/files/*'), get('/')];
    });
    await deploy('wild', 'root', (s) => {
      s.operations = [get('/*')];
    });
    await waitServed(t, gw, '/routing/v1.0/books', 200);
    await waitServed(t, gw, '/wild/v1.0/x', 200);
  });
  afterAll(async () => {
    await t?.close();
    for (const u of Object.values(upstreams)) await u?.close();
  });

  describe.each(vhosts)('on the $vhost vhost', (vhost) => {
    const prefix = vhost.upstream === 'main' ? '/base' : '/sbx';

    it('matches an exact path with and without one trailing slash, passing the slash and the query upstream', async () => {
      expect(await through(vhost, '/routing/v1.0/books')).toMatchObject({ status: 200, url: `${prefix}/books` });
      expect(await through(vhost, '/routing/v1.0/books/')).toMatchObject({ status: 200, url: `${prefix}/books/` });
      expect(await through(vhost, '/routing/v1.0/books?q=1&r=2')).toMatchObject({ status: 200, url: `${prefix}/books?q=1&r=2` });
      expect(await through(vhost, '/routing/v1.0/bookshelf')).toMatchObject({ status: 404 });
    });

    it('matches a path parameter as one segment', async () => {
      expect(await through(vhost, '/routing/v1.0/books/42?x=y')).toMatchObject({ status: 200, url: `${prefix}/books/42?x=y` });
      expect(await through(vhost, '/routing/v1.0/books/42/pages')).toMatchObject({ status: 404 });
    });

    it('matches a /* operation as a prefix with a segment boundary, keeping the prefix upstream', async () => {
      expect(await through(vhost, '/routing/v1.0/files')).toMatchObject({ status: 200, url: `${prefix}/files` });
      expect(await through(vhost, '/routing/v1.0/files/a/b.txt?v=2')).toMatchObject({ status: 200, url: `${prefix}/files/a/b.txt?v=2` });
      expect(await through(vhost, '/routing/v1.0/filesystem')).toMatchObject({ status: 404 });
      expect(await through(vhost, '/routing/v1.0/files/a', { method: 'POST' })).toMatchObject({ status: 404 });
    });

    it('matches the root operation with and without a trailing slash, sending <base>/', async () => {
      expect(await through(vhost, '/routing/v1.0')).toMatchObject({ status: 200, url: `${prefix}/` });
      expect(await through(vhost, '/routing/v1.0/')).toMatchObject({ status: 200, url: `${prefix}/` });
      expect(await through(vhost, '/routing/v1.0?page=2')).toMatchObject({ status: 200, url: `${prefix}/?page=2` });
    });

    it('serves a /* operation on a root upstream: the context alone becomes /, a sibling context is not matched', async () => {
      expect(await through(vhost, '/wild/v1.0', { root: true })).toMatchObject({ status: 200, url: '/' });
      expect(await through(vhost, '/wild/v1.0/', { root: true })).toMatchObject({ status: 200, url: '/' });
      expect(await through(vhost, '/wild/v1.0/data/x?q=1', { root: true })).toMatchObject({ status: 200, url: '/data/x?q=1' });
      expect(await through(vhost, '/wild/v1.0beta/data', { root: true })).toMatchObject({ status: 404 });
    });
  });

  it('passes the strict Envoy check with every routing shape', async () => {
    await expectServedConfigValid(t, ['routing', 'wild'], ['(?:/.*)?$']);
  });

  describe('host-rewrite', () => {
    beforeAll(async () => {
      const hostPolicy = (host: string) => [policy('host-rewrite', { host })];
      await deploy('hosts', 'paths', (s) => {
        s.upstream = { main: { url: `${upstreams.main.url}/base`, hostRewrite: 'manual' }, sandbox: { url: `${upstreams.sandbox.url}/sbx`, hostRewrite: 'manual' } };
        s.policies = hostPolicy('api-level.example.com');
        s.operations = [get('/default'), { ...get('/override'), policies: hostPolicy('operation-level.example.com:8443') }];
      });
      await deploy('hosts-client', 'paths', (s) => {
        s.upstream = { main: { url: `${upstreams.main.url}/base`, hostRewrite: 'manual' }, sandbox: { url: `${upstreams.sandbox.url}/sbx`, hostRewrite: 'manual' } };
        s.operations = [get('/echo')];
      });
      await deploy('hosts-auto', 'paths', (s) => {
        s.operations = [{ ...get('/echo'), policies: hostPolicy('ignored.example.com') }];
      });
      await waitServed(t, gw, '/hosts-auto/v1.0/echo', 200);
      await waitServed(t, gw, '/hosts-client/v1.0/echo', 200);
      await waitServed(t, gw, '/hosts/v1.0/default', 200);
    });

    it.each(vhosts)('sends the API-level host, or the operation-level one where the operation has its own ($vhost)', async (vhost) => {
      expect(await through(vhost, '/hosts/v1.0/default')).toMatchObject({ status: 200, host: 'api-level.example.com' });
      expect(await through(vhost, '/hosts/v1.0/override')).toMatchObject({ status: 200, host: 'operation-level.example.com:8443' });
    });

    it.each(vhosts)("sends the client's Host with hostRewrite manual and no policy ($vhost)", async (vhost) => {
      expect(await through(vhost, '/hosts-client/v1.0/echo')).toMatchObject({ status: 200, host: vhost.host });
    });

    it.each(vhosts)("sends the upstream's host with hostRewrite auto, whatever the policy says ($vhost)", async (vhost) => {
      const port = recorderOf(vhost.upstream, false).port;
      expect(await through(vhost, '/hosts-auto/v1.0/echo')).toMatchObject({ status: 200, host: `127.0.0.1:${port}` });
    });

    it('passes the strict Envoy check with host_rewrite_literal', async () => {
      await expectServedConfigValid(t, ['hosts', 'hosts-client', 'hosts-auto'], ['hostRewriteLiteral']);
    });
  });

  describe('request-rewrite pathRewrite', () => {
    const rewrite = (pathRewrite: Record<string, unknown>) => [policy('request-rewrite', { pathRewrite })];

    beforeAll(async () => {
      await deploy('rewrite', 'paths', (s) => {
        s.operations = [
          { ...get('/api/v1'), policies: rewrite({ type: 'ReplacePrefixMatch', replacePrefixMatch: '/api/v2' }) },
          { ...get('/legacy/*'), policies: rewrite({ type: 'ReplacePrefixMatch', replacePrefixMatch: '/modern' }) },
          { ...get('/full'), policies: rewrite({ type: 'ReplaceFullPath', replaceFullPath: '/fixed/path' }) },
          { ...get('/service/*'), policies: rewrite({ type: 'ReplaceRegexMatch', replaceRegexMatch: { pattern: '^/service/([^/]+)(/.*)$', substitution: '\\2/instance/\\1' } }) },
          get('/plain'),
        ];
      });
      await deploy('rewrite-api', 'paths', (s) => {
        s.policies = rewrite({ type: 'ReplaceFullPath', replaceFullPath: '/api-level' });
        s.operations = [get('/a'), { ...get('/b'), policies: rewrite({ type: 'ReplaceFullPath', replaceFullPath: '/operation-level' }) }];
      });
      await waitServed(t, gw, '/rewrite/v1.0/plain', 200);
      await waitServed(t, gw, '/rewrite-api/v1.0/a', 200);
    });

    describe.each(vhosts)('on the $vhost vhost', (vhost) => {
      const prefix = vhost.upstream === 'main' ? '/base' : '/sbx';

      it('ReplacePrefixMatch swaps the operation path, keeping the rest, the trailing slash and the query', async () => {
        expect(await through(vhost, '/rewrite/v1.0/api/v1?q=1')).toMatchObject({ status: 200, url: `${prefix}/api/v2?q=1` });
        expect(await through(vhost, '/rewrite/v1.0/api/v1/')).toMatchObject({ status: 200, url: `${prefix}/api/v2/` });
        expect(await through(vhost, '/rewrite/v1.0/legacy/a/b')).toMatchObject({ status: 200, url: `${prefix}/modern/a/b` });
        expect(await through(vhost, '/rewrite/v1.0/legacy')).toMatchObject({ status: 200, url: `${prefix}/modern` });
      });

      it('ReplaceFullPath replaces the whole path after the context, keeping the query', async () => {
        expect(await through(vhost, '/rewrite/v1.0/full/?x=1')).toMatchObject({ status: 200, url: `${prefix}/fixed/path?x=1` });
      });

      it('ReplaceRegexMatch substitutes capture groups, and leaves a path its pattern does not match as routed', async () => {
        expect(await through(vhost, '/rewrite/v1.0/service/foo/v1/api?z=9')).toMatchObject({ status: 200, url: `${prefix}/v1/api/instance/foo?z=9` });
        expect(await through(vhost, '/rewrite/v1.0/service/foo')).toMatchObject({ status: 200, url: `${prefix}/service/foo` });
      });

      it('applies an API-level rewrite to every operation, the operation-level one winning', async () => {
        expect(await through(vhost, '/rewrite-api/v1.0/a')).toMatchObject({ status: 200, url: `${prefix}/api-level` });
        expect(await through(vhost, '/rewrite-api/v1.0/b')).toMatchObject({ status: 200, url: `${prefix}/operation-level` });
      });

      it('leaves operations without the policy alone', async () => {
        expect(await through(vhost, '/rewrite/v1.0/plain/')).toMatchObject({ status: 200, url: `${prefix}/plain/` });
      });
    });

    it('passes the strict Envoy check with the guarded ReplaceRegexMatch route', async () => {
      await expectServedConfigValid(t, ['rewrite', 'rewrite-api'], ['/instance/']);
    });

    it('refuses with 400 naming the field what it cannot serve: query and method rewrites, match conditions, an unanchored or invalid pattern', async () => {
      const refused = async (params: Record<string, unknown>, field: string, message: RegExp) => {
        const body = freshRestApi('rewrite-refused', (b) => {
          b.spec.operations = [{ method: 'GET', path: '/x', policies: [policy('request-rewrite', params)] }];
        });
        const res = await rest.post<{ errors?: { field: string; message: string }[] }>('/rest-apis', body);
        expect(res.status, JSON.stringify(res.body)).toBe(400);
        expect(res.body.errors).toEqual(expect.arrayContaining([{ field: `spec.operations[0].policies[0].params.${field}`, message: expect.stringMatching(message) }]));
      };
      const path = { type: 'ReplaceFullPath', replaceFullPath: '/y' };
      await refused({ pathRewrite: path, queryRewrite: { rules: [{ action: 'Remove', name: 'debug' }] } }, 'queryRewrite', /not supported/);
      await refused({ pathRewrite: path, methodRewrite: 'POST' }, 'methodRewrite', /not supported/);
      await refused({ pathRewrite: path, match: { headers: [{ name: 'x-a', type: 'Present' }] } }, 'match', /not supported/);
      await refused({ pathRewrite: { type: 'ReplaceRegexMatch', replaceRegexMatch: { pattern: 'one', substitution: 'two' } } }, 'pathRewrite.replaceRegexMatch.pattern', /must start with \^/);
      await refused({ pathRewrite: { type: 'ReplaceRegexMatch', replaceRegexMatch: { pattern: '^/(a)\\1', substitution: 'x' } } }, 'pathRewrite.replaceRegexMatch.pattern', /backreferences/);
    });
  });
});
