import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import type { Logger } from '../logger.ts';
import { reconnectBackoffSeconds } from './reconnect-backoff.ts';

/** The Postgres channel every control plane on one database notifies and listens on. */
export const changeChannel = 'apip_changes';

export interface ChangeNotifyOptions {
  /** postgres://… of the shared database. */
  url: string;
  /** Called when another control plane committed a change (or when we may have missed some). */
  onRemoteChange: () => void;
  logger: Logger;
  /** First reconnect delay after the LISTEN connection is lost, doubling up to `maxReconnectMs`. @default 100 */
  reconnectMs?: number;
  /**
   * The longest wait between reconnect attempts. Reconnecting is what tells this control plane the database is back
   * (a rebuild follows), so it bounds how long changes made after an outage take to reach data planes. @default 500
   */
  maxReconnectMs?: number;
}

export interface ChangeNotify {
  /** Tells the other control planes that we committed a change; bursts are coalesced. Never throws. */
  notify(): void;
  close(): Promise<void>;
}

/** postgres.js accepts `onnotify` but its typings omit it. */
type ListenOptions = postgres.Options<Record<string, postgres.PostgresType>> & {
  onnotify: (channel: string, payload: string) => void;
};

interface Payload {
  origin: string;
}

function originOf(payload: string): string | null {
  try {
    const parsed = JSON.parse(payload) as Partial<Payload>;
    return typeof parsed.origin === 'string' ? parsed.origin : null;
  } catch {
    return null;
  }
}

/**
 * Cross-replica change propagation over Postgres LISTEN/NOTIFY. Each control plane sends
 * `NOTIFY apip_changes, '{"origin":<its id>}'` after its own commits and rebuilds when a notification from
 * another origin arrives. The LISTEN connection is re-established after any loss, and a rebuild follows every
 * re-establishment, since notifications sent while disconnected are gone
 * (https://www.postgresql.org/docs/current/sql-notify.html: only sessions listening at commit time receive one).
 */
export async function startChangeNotify(options: ChangeNotifyOptions): Promise<ChangeNotify> {
  const logger = options.logger.child({ component: 'change-notify' });
  const origin = randomUUID();
  const payload = JSON.stringify({ origin } satisfies Payload);
  const reconnectMs = options.reconnectMs ?? 100;
  const maxReconnectMs = options.maxReconnectMs ?? 500;
  const delayOf = (attempt: number) => Math.min(reconnectMs * 2 ** attempt, maxReconnectMs);
  let closed = false;
  let reconnectTimer: NodeJS.Timeout | null = null;
  let attempts = 0;

  const listenOptions: ListenOptions = {
    max: 1,
    // One long-lived session: recycling it would drop the LISTEN and lose notifications.
    idle_timeout: undefined,
    max_lifetime: null,
    fetch_types: false,
    connect_timeout: 5,
    backoff: reconnectBackoffSeconds,
    onnotice: () => {},
    connection: { application_name: 'apip-change-listener' },
    onnotify: (channel, message) => {
      if (channel !== changeChannel || originOf(message) === origin) return;
      options.onRemoteChange();
    },
    onclose: () => {
      if (closed) return;
      logger.warn('change listener connection lost, reconnecting');
      scheduleListen();
    },
  };
  const listener = postgres(options.url, listenOptions);
  const notifier = postgres(options.url, {
    max: 1,
    connect_timeout: 5,
    backoff: reconnectBackoffSeconds,
    onnotice: () => {},
    connection: { application_name: 'apip-change-notifier' },
  });

  const listen = async (): Promise<void> => {
    await listener.unsafe(`listen ${changeChannel}`);
  };

  function scheduleListen(): void {
    if (closed || reconnectTimer) return;
    const delay = delayOf(attempts);
    attempts += 1;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      listen().then(
        () => {
          attempts = 0;
          logger.info('change listener reconnected');
          options.onRemoteChange();
        },
        (error: unknown) => {
          logger.warn({ err: error, retryInMs: delayOf(attempts) }, 'change listener reconnect failed');
          scheduleListen();
        },
      );
    }, delay);
    reconnectTimer.unref();
  }

  await listen();

  // Coalescing: one NOTIFY in flight at a time, and at most one more queued behind it.
  let sending: Promise<void> | null = null;
  let queued = false;
  const send = (): void => {
    if (closed) return;
    if (sending) {
      queued = true;
      return;
    }
    sending = notifier
      .notify(changeChannel, payload)
      .then(
        () => undefined,
        (error: unknown) => {
          // Other replicas still converge through their periodic rebuild.
          logger.warn({ err: error }, 'change notification failed');
        },
      )
      .finally(() => {
        sending = null;
        if (queued) {
          queued = false;
          send();
        }
      });
  };

  return {
    notify: send,
    close: async () => {
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      if (sending) await sending;
      await Promise.all([listener.end({ timeout: 1 }), notifier.end({ timeout: 1 })]);
    },
  };
}
