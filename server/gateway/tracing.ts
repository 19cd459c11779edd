// OpenTelemetry spans of one gateway request, made only when the gateway was given a tracer (GatewayOptions.tracer):
// without one no RequestTrace exists and the request path does no tracing work at all.
//   SERVER  "<METHOD> <route name>"     the request, from arrival to the end of the response
//   ├─ INTERNAL "policy chain"          the request phase of the route's modules (with the batch wait)
//   │   └─ INTERNAL "policy <module>"   one per module reached, with its decision (continue / local_reply + status)
//   └─ CLIENT "<METHOD>"                the upstream call; its context goes upstream in `traceparent`
// A client's W3C traceparent/tracestate make the SERVER span its child (invalid ones are ignored: a new trace
// starts); what goes upstream is always our CLIENT span's context, never the client's header as sent.
// Attribute names are the stable HTTP semantic conventions plus `apip.*`; bodies, queries (API keys may ride in
// them) and credentials are never recorded.
import type { IncomingMessage } from 'node:http';
import {
  type Context, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode,
  type TextMapSetter, trace, type Tracer,
} from '@opentelemetry/api';
import {
  ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT,
} from '@opentelemetry/semantic-conventions';
import { endWithStatus, startServerSpan, w3cPropagator } from '../telemetry/server-span.ts';
import type { ChainObserver, PhaseOutcome } from './filter-chain.ts';
import { withoutNamed } from './http-headers.ts';
import type { HeadersOutcome, LocalReply } from './proxy-wasm/types.ts';
import type { RequestIdentity } from './telemetry.ts';

/** Attributes the gateway adds beyond the semantic conventions. */
export const apipAttributes = {
  api: 'apip.api',
  plan: 'apip.plan',
  application: 'apip.application',
  subscription: 'apip.subscription',
  module: 'apip.policy.module',
  /** continue | local_reply */
  decision: 'apip.policy.decision',
  /** Envoy-style response code details of a local reply (`apip_api_key_missing`). */
  details: 'apip.policy.details',
  /** The module paused the request (an http_call) before deciding. */
  paused: 'apip.policy.paused',
  cluster: 'apip.upstream.cluster',
} as const;

const traceHeaders: ReadonlySet<string> = new Set(['traceparent', 'tracestate']);

/** Appends to the flat upstream header array. */
const flatSetter: TextMapSetter<string[]> = {
  set: (flat, key, value) => {
    flat.push(key, value);
  },
};

function endDecided(span: Span, outcome: { action: 'continue' } | LocalReply): void {
  if (outcome.action === 'continue') {
    span.setAttribute(apipAttributes.decision, 'continue');
    span.end();
    return;
  }
  span.setAttributes({ [apipAttributes.decision]: 'local_reply', [apipAttributes.details]: outcome.details });
  endWithStatus(span, outcome.status);
}

function endFailed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

export class RequestTrace implements ChainObserver {
  private readonly server: Span;
  private readonly serverContext: Context;
  /** Sampled out: only the context is propagated, no child span is made. */
  private readonly isRecording: boolean;
  private readonly method: string;
  private chain: Span | null = null;
  private chainContext: Context = ROOT_CONTEXT;
  /** The module spans still open, by chain position. */
  private readonly modules: (Span | undefined)[] = [];
  private client: Span | null = null;

  constructor(private readonly tracer: Tracer, req: IncomingMessage) {
    this.method = req.method ?? 'GET';
    const started = startServerSpan(tracer, req);
    this.server = started.span;
    this.serverContext = started.context;
    this.isRecording = this.server.isRecording();
  }

  /** A route matched: its name is the span's route (low cardinality, as http.route should be). */
  routed(routeName: string, api: string): void {
    this.server.updateName(`${this.method} ${routeName}`);
    this.server.setAttribute(ATTR_HTTP_ROUTE, routeName);
    // The platform's own routes (`no-api-found`) belong to no API.
    if (api !== '') this.server.setAttribute(apipAttributes.api, api);
  }

  /** The route's request filters start (they run at the end of this event-loop turn, with the turn's others). */
  chainStarted(): void {
    if (!this.isRecording) return;
    this.chain = this.tracer.startSpan('policy chain', {}, this.serverContext);
    this.chainContext = trace.setSpan(this.serverContext, this.chain);
  }

  // ChainObserver: each module's request headers callback.

  moduleStarted(position: number, name: string): void {
    if (this.chain === null) return;
    // `envoy.filters.http.wasm/api-key` → `api-key`: the policy's own name reads best in a trace view.
    const module = name.slice(name.lastIndexOf('/') + 1);
    this.modules[position] = this.tracer.startSpan(`policy ${module}`, { attributes: { [apipAttributes.module]: module } }, this.chainContext);
  }

  moduleDecided(position: number, outcome: HeadersOutcome | Promise<never>): void {
    const span = this.modules[position];
    if (span === undefined) return;
    this.modules[position] = undefined;
    if (outcome instanceof Promise) {
      outcome.catch((error: unknown) => endFailed(span, error));
      return;
    }
    if (outcome.action !== 'pause') {
      endDecided(span, outcome);
      return;
    }
    span.setAttribute(apipAttributes.paused, true);
    outcome.resume.then((settled) => endDecided(span, settled), (error: unknown) => endFailed(span, error));
  }

  /** The request phase's outcome (after every module, or the first local reply). */
  chainEnded(outcome: PhaseOutcome): void {
    const chain = this.chain;
    if (chain === null) return;
    this.chain = null;
    endDecided(chain, outcome);
  }

  /** The upstream call starts: a CLIENT span, whose context replaces any trace headers in `headers`. */
  upstreamStarted(clusterName: string, address: string, port: number, headers: string[]): string[] {
    const client = this.tracer.startSpan(this.method, {
      kind: SpanKind.CLIENT,
      attributes: { [ATTR_HTTP_REQUEST_METHOD]: this.method, [ATTR_SERVER_ADDRESS]: address, [ATTR_SERVER_PORT]: port, [apipAttributes.cluster]: clusterName },
    }, this.serverContext);
    this.client = client;
    const out = withoutNamed(headers, traceHeaders);
    w3cPropagator.inject(trace.setSpan(this.serverContext, client), out, flatSetter);
    return out;
  }

  /** The upstream's status; the CLIENT span lasts until the response is over (finished). */
  upstreamResponded(status: number): void {
    const client = this.client;
    if (client === null) return;
    client.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    if (status >= 500) client.setStatus({ code: SpanStatusCode.ERROR });
  }

  upstreamFailed(kind: string): void {
    const client = this.client;
    if (client === null) return;
    this.client = null;
    client.setAttribute('error.type', kind);
    client.setStatus({ code: SpanStatusCode.ERROR });
    client.end();
  }

  /** The response is over (`status` 0: the connection closed before one); every span still open ends here. */
  finished(status: number, identity: RequestIdentity | null): void {
    const { server } = this;
    if (identity !== null) {
      if (identity.plan !== null) server.setAttribute(apipAttributes.plan, identity.plan);
      if (identity.applicationId !== null) server.setAttribute(apipAttributes.application, identity.applicationId);
      if (identity.subscriptionId !== null) server.setAttribute(apipAttributes.subscription, identity.subscriptionId);
    }
    for (const span of this.modules) span?.end();
    this.chain?.end();
    this.client?.end();
    if (status === 0) {
      server.setAttribute('error.type', 'connection_closed');
      server.end();
      return;
    }
    endWithStatus(server, status);
  }
}
