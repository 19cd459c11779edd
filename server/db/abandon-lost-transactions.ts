import type postgres from 'postgres';

/** Error codes meaning the connection's socket is gone (postgres.js names, then Node's). */
const connectionLostCodes = new Set(['CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

function isConnectionLost(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && connectionLostCodes.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** A promise that never settles, shaped like postgres.js's pending query where drizzle reads one. */
function neverSettling(): Promise<never> & { values(): Promise<never> } {
  const pending = new Promise<never>(() => {});
  return Object.assign(pending, { values: () => pending });
}

/**
 * `sql` for drizzle, whose transactions stop touching their connection once it is lost.
 *
 * Why (postgres.js 3.4.x, connection.js, issue 15): when a connection is reset during a transaction, the transaction
 * scope still sends its next query, or the ROLLBACK of its `catch`, on that connection. The connection's socket is
 * already null, and the write is flushed from a `setImmediate`: `TypeError: Cannot read properties of null (reading
 * 'write')` outside any promise ended the process in 5 of 6 runs. Contained by the process policy it still wedged
 * the pool connection (its write timer is never reset, so later reconnects never send their startup message and
 * time out, every 5 s). postgres.js itself rejects the transaction as soon as the connection closes; so here a
 * transaction whose connection was lost issues nothing more and its callback is left pending, which skips the
 * ROLLBACK (Postgres rolls back a transaction whose session ended). postgres 4.x rewrote the connection: drop this
 * when upgrading.
 */
export function abandonLostTransactions(sql: postgres.Sql): postgres.Sql {
  return new Proxy(sql, {
    get(target, property, receiver) {
      if (property !== 'begin') return Reflect.get(target, property, receiver) as unknown;
      return (...args: unknown[]) => {
        const callback = args.pop() as (tx: postgres.TransactionSql) => unknown;
        let isLost = false;
        const guarded = async (tx: postgres.TransactionSql): Promise<unknown> => {
          const guardedTx = new Proxy(tx, {
            get(txTarget, txProperty, txReceiver) {
              const value = Reflect.get(txTarget, txProperty, txReceiver) as unknown;
              if (txProperty !== 'unsafe' || typeof value !== 'function') return value;
              return (...queryArgs: unknown[]) => (isLost ? neverSettling() : (value as (...a: unknown[]) => unknown).apply(txTarget, queryArgs));
            },
          });
          try {
            return await callback(guardedTx);
          } catch (error: unknown) {
            if (!isLost && !isConnectionLost(error)) throw error;
            isLost = true;
            return neverSettling();
          }
        };
        const transaction = (target.begin as (...a: unknown[]) => Promise<unknown>)(...args, guarded);
        // postgres.js rejects the transaction when its connection closes: from then on it issues nothing.
        transaction.catch((error: unknown) => {
          if (isConnectionLost(error)) isLost = true;
        });
        return transaction;
      };
    },
  });
}
