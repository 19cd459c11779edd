import type { ChangeFeed, DomainContext } from '../domain/context.ts';
import type { Logger } from '../logger.ts';
import type { EnvoyResources, Snapshot } from '../envoy/resources.ts';
import type { SnapshotCache } from './snapshot-cache.ts';

/** What the translator reports beside its resources: one broken API is left out, never the whole snapshot. */
export interface TranslationResult {
  resources: EnvoyResources;
  problems: readonly unknown[];
  /** How each API of the snapshot (by handle) is reachable, for deploymentStatus. */
  reachability?: Readonly<Record<string, string>>;
}

/**
 * The I/O-free steps between the database and a snapshot, injected so the runner is tested with fakes and
 * the platform wires the real ones (`loadDeploymentModel`, `resolveJwks`, `translate`, `validateResourcesAsync`).
 */
/** The database handle as the domain receives it (xds never imports db itself). */
type Database = DomainContext['db'];

export interface SnapshotPipeline<Model> {
  loadModel(db: Database, now: Date): Promise<Model>;
  /** Fetches JWKS URLs etc. the translator must not fetch itself (it is pure); its problems join the translator's. */
  resolveJwks?(model: Model): Promise<{ model: Model; problems: readonly unknown[] }>;
  translate(model: Model): TranslationResult;
  /**
   * Problems found checking every resource against Envoy's protos; empty = publishable. May be asynchronous
   * (the real check yields to the event loop between slices); the build waits for it before publishing.
   */
  validate(resources: EnvoyResources): readonly unknown[] | Promise<readonly unknown[]>;
  /** When the model next changes without a write (a subscription starts or ends, a key expires): rebuild then. */
  nextChangeAt?(db: Database, now: Date): Promise<Date | null>;
  /**
   * Outside changes the model depends on (a JWKS URL's keys rotated): calls `onChange` when one happened, from
   * `start` until the returned function is called.
   */
  watch?(onChange: () => void): () => void;
  /** A data plane refused a token on `api` (a handle) that no known key verifies: its keys may have rotated. */
  keysMayHaveRotated?(api: string): void;
}

export interface SnapshotRunnerOptions<Model> {
  db: Database;
  changes: ChangeFeed;
  cache: SnapshotCache;
  pipeline: SnapshotPipeline<Model>;
  logger: Logger;
  now: () => Date;
  /** A burst of changes within this window becomes one snapshot. @default 10 */
  debounceMs?: number;
  /** Rebuild this often even without changes, so expiries (keys, subscriptions) take effect. @default 30000 */
  refreshIntervalMs?: number;
  /** First retry after a failed build (doubling up to refreshIntervalMs). @default 1000 */
  retryMs?: number;
}

export type RebuildReason = 'start' | 'change' | 'remote' | 'refresh' | 'retry' | 'scheduled' | 'keys';

/**
 * Turns committed changes into snapshots: debounce → load model → resolve JWKS → translate → validate →
 * publish. One build runs at a time; a change arriving during a build triggers one more afterwards, so the
 * last snapshot always reflects the last commit. A failed build keeps the last good snapshot.
 */
export class SnapshotRunner<Model> {
  private readonly debounceMs: number;
  private readonly refreshIntervalMs: number;
  private readonly retryMs: number;
  private readonly logger: Logger;
  private debounceTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private scheduledTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private stopWatching: (() => void) | null = null;
  private building: Promise<void> | null = null;
  private pendingReason: RebuildReason | null = null;
  private failures = 0;
  private lastProblems: readonly unknown[] = [];
  private lastReachability: Readonly<Record<string, string>> = {};
  private lastReport = '';
  private closed = false;

  constructor(private readonly options: SnapshotRunnerOptions<Model>) {
    this.debounceMs = options.debounceMs ?? 10;
    // A safety net only: writes rebuild through the change feed (and NOTIFY across replicas), and time-based
    // changes through nextChangeAt. A full rebuild of a large catalogue is seconds of CPU, so it must be rare.
    this.refreshIntervalMs = options.refreshIntervalMs ?? 300_000;
    this.retryMs = options.retryMs ?? 1000;
    this.logger = options.logger.child({ component: 'xds' });
  }

  /** Builds the first snapshot (so data planes get configuration at once), then follows the change feed. */
  async start(): Promise<void> {
    this.unsubscribe = this.options.changes.subscribe(() => this.requestRebuild('change'));
    this.stopWatching = this.options.pipeline.watch?.(() => this.requestRebuild('keys')) ?? null;
    this.refreshTimer = setInterval(() => this.requestRebuild('refresh'), this.refreshIntervalMs);
    this.refreshTimer.unref();
    await this.rebuild('start');
  }

  /** Schedules a rebuild after the debounce window; calls within the window share it. */
  requestRebuild(reason: RebuildReason): void {
    if (this.closed) return;
    this.pendingReason ??= reason;
    if (this.debounceTimer) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = null;
      void this.rebuild(this.pendingReason ?? reason);
    }, this.debounceMs);
  }

  /** Builds now (after any build in flight); resolves when the resulting snapshot is published or refused. */
  async rebuild(reason: RebuildReason): Promise<void> {
    while (this.building) await this.building;
    if (this.closed) return;
    this.pendingReason = null;
    this.building = this.build(reason).finally(() => {
      this.building = null;
    });
    await this.building;
  }

  /** Resolves once no rebuild is scheduled or running (tests, graceful shutdown). */
  async idle(): Promise<void> {
    while (this.building || this.debounceTimer) {
      if (this.building) await this.building;
      else await new Promise((resolve) => setTimeout(resolve, this.debounceMs));
    }
  }

  /** Problems of the latest build: translation problems (APIs left out) or validation problems (refused). */
  problems(): readonly unknown[] {
    return this.lastProblems;
  }

  /** How each API of the snapshot being served is reachable (a refused build keeps the last served one's). */
  reachability(): Readonly<Record<string, string>> {
    return this.lastReachability;
  }

  /** One timer at the model's next time-based change, replacing any earlier one. */
  private async scheduleNextChange(): Promise<void> {
    const { pipeline, db, now } = this.options;
    if (!pipeline.nextChangeAt || this.closed) return;
    const at = await pipeline.nextChangeAt(db, now());
    if (this.scheduledTimer) clearTimeout(this.scheduledTimer);
    this.scheduledTimer = null;
    if (!at || this.closed) return;
    // +1 ms: the instant itself must be in the past when the model is loaded (ending at T means not live at T).
    const delay = Math.min(Math.max(at.getTime() - now().getTime() + 1, 0), this.refreshIntervalMs);
    this.scheduledTimer = setTimeout(() => {
      this.scheduledTimer = null;
      this.requestRebuild('scheduled');
    }, delay);
    this.scheduledTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    this.stopWatching?.();
    for (const timer of [this.debounceTimer, this.retryTimer, this.scheduledTimer]) if (timer) clearTimeout(timer);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.debounceTimer = this.retryTimer = this.refreshTimer = this.scheduledTimer = null;
    if (this.building) await this.building;
  }

  private async build(reason: RebuildReason): Promise<void> {
    const started = performance.now();
    const { pipeline, cache } = this.options;
    try {
      let model: Model = await pipeline.loadModel(this.options.db, this.options.now());
      let keyProblems: readonly unknown[] = [];
      if (pipeline.resolveJwks) {
        const resolved = await pipeline.resolveJwks(model);
        model = resolved.model;
        keyProblems = resolved.problems;
      }
      const translated = pipeline.translate(model);
      const { resources } = translated;
      const problems = [...keyProblems, ...translated.problems];
      const invalid = await pipeline.validate(resources);
      this.failures = 0;
      if (invalid.length > 0) {
        this.lastProblems = invalid;
        this.report('error', { problems: invalid, version: cache.current()?.version ?? null }, 'generated configuration is invalid, keeping the last good snapshot');
        return;
      }
      this.lastProblems = problems;
      if (problems.length > 0) this.report('warn', { problems }, 'snapshot built with translation problems');
      else this.lastReport = '';
      const before = cache.current();
      const snapshot: Snapshot = cache.publish(resources);
      this.lastReachability = translated.reachability ?? {};
      await this.scheduleNextChange();
      if (snapshot !== before) {
        this.logger.info({ version: snapshot.version, reason, ms: Math.round(performance.now() - started) }, 'snapshot published');
      }
    } catch (error: unknown) {
      this.failures += 1;
      const delay = Math.min(this.retryMs * 2 ** (this.failures - 1), this.refreshIntervalMs);
      this.logger.warn({ err: error, reason, retryInMs: delay }, 'snapshot build failed, keeping the last good snapshot');
      if (!this.closed && !this.retryTimer) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.requestRebuild('retry');
        }, delay);
        this.retryTimer.unref();
      }
    }
  }

  /** Logs problems once per distinct set, not on every periodic rebuild. */
  private report(level: 'warn' | 'error', fields: Record<string, unknown>, message: string): void {
    const text = JSON.stringify(fields.problems);
    if (text === this.lastReport) return;
    this.lastReport = text;
    this.logger[level](fields, message);
  }
}
