/**
 * A postgres.js transaction that stops, rather than carries on, when its connection is lost.
 *
 * `sql.begin` rejects as soon as the transaction's connection closes, but lets the callback run on.
 * Whatever it does next then reaches the closed connection: its next statement runs outside any
 * transaction once the connection has reconnected, and when the callback throws, begin's own ROLLBACK
 * goes into a deferred write on a socket that is gone, which throws from a timer and ends the thread
 * (porsager/postgres#1208; postgres.js 3.4.9). The server has rolled the transaction back already.
 *
 * So the callback gets `open`: awaited before each statement, it never settles once the transaction
 * has failed, and a connection-loss error is held the same way instead of being thrown into begin.
 * The suspended callback holds nothing but its own closure and is collected.
 *
 * The callback's return is held the same way, because begin answers it with COMMIT on the same
 * connection object, whatever session that is by then. A callback can return long after its
 * connection was lost: postgres.js keeps a COPY stream's final callback (`final` in connection.js,
 * called by the next CommandComplete) across the close and the reconnect, so a COPY the server cut off
 * after its CopyDone — a shutdown, `pg_terminate_backend` — completes its `pipeline()` at the first
 * statement of the reconnected session, typically the BEGIN of the next batch. The dead callback then
 * returned, and begin's COMMIT ended that other batch's transaction early: its staged rows
 * (`ON COMMIT DELETE ROWS`) were gone before its INSERT ... SELECT read them, and its 500 rows were
 * counted as duplicates (`fault.test.ts`, inline flusher: one batch lost in 2 of 14 runs; `write.test.ts`
 * replays it).
 */
import type { Sql, TransactionSql } from "postgres";

/**
 * postgres.js' own codes for a connection that went away (CONNECTION_CLOSED, _DESTROYED, _ENDED). Not
 * the server's 57P01 ("terminating connection"): postgres.js can hand a stale one to the first query of a
 * connection that has since reconnected and is healthy (porsager/postgres#1223), and that transaction
 * must fail normally, with its ROLLBACK, so that the flusher retries the write.
 */
function isConnectionLoss(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("CONNECTION_");
}

/**
 * A promise that never settles, new for each wait: a shared one would keep every parked callback's
 * continuation (and the batch it holds) in its reaction list for the life of the process.
 */
const never = () => new Promise<never>(() => undefined);

export async function transaction<T>(
  client: Sql,
  body: (tx: TransactionSql, open: () => Promise<void>) => Promise<T>,
): Promise<T> {
  let failed = false;
  const open = () => (failed ? never() : Promise.resolve());
  try {
    return (await client.begin(async (tx) => {
      try {
        const value = await body(tx, open);
        // no COMMIT for a transaction already lost: it would land in whatever the connection runs now
        await open();
        return value;
      } catch (e) {
        // no ROLLBACK onto a lost connection: begin has rejected (or will) with the loss itself
        if (failed || isConnectionLoss(e)) return never();
        throw e;
      }
    })) as T;
  } catch (e) {
    failed = true;
    throw e;
  }
}
