import type { Logger } from '../core/log';
import type { Row, TableName } from '../core/warehouse/tables';
import { checkRows, Warehouse } from '../core/warehouse/warehouse';
import { sleep, withTimeout } from '../core/async';

/**
 * Warehouse writes off the request path: rows are queued, written in batches every
 * `flushMs` (or as soon as `maxRows` are waiting), and retried with backoff when the
 * warehouse fails. A response never waits for the warehouse. `close()` writes everything
 * still queued, so a graceful shutdown loses nothing.
 *
 * Rows are validated against the table schema when they are queued (a bad row is a bug
 * and fails the request that made it), so a failed write is an outage and is retried.
 */

export interface EventSinkOptions {
  warehouse: Warehouse;
  logger: Logger;
  flushMs: number;
  maxRows?: number;
  /** Attempts per flush during shutdown before rows are given up (and logged in full). */
  closeAttempts?: number;
  /** A write that takes longer counts as failed and is retried (a hung warehouse must not hang shutdown). */
  insertTimeoutMs?: number;
}

type AnyRows = { [T in TableName]?: Row<T>[] };

export class EventSink {
  private queued: AnyRows = {};
  private count = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private failures = 0;
  private closed = false;
  written = 0;

  constructor(private readonly options: EventSinkOptions) {}

  add<T extends TableName>(table: T, rows: Row<T>[]): void {
    if (rows.length === 0) return;
    if (this.closed) {
      // Should not happen (the server stops accepting requests first); never drop silently.
      this.options.logger.error({ table, rows }, `warehouse rows for ${table} arrived after shutdown; written to the log instead`);
      return;
    }
    checkRows(table, rows);
    ((this.queued[table] ??= []) as Row<T>[]).push(...rows);
    this.count += rows.length;
    if (this.count >= (this.options.maxRows ?? 500)) void this.flush();
    else this.arm(this.options.flushMs);
  }

  get pending(): number {
    return this.count;
  }

  /** Writes what is queued now (one flush at a time; a second call waits for the first). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.count === 0) return;
    this.flushing = this.writeQueued().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /** Stops the timer and writes every queued row, retrying up to `closeAttempts` times. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const attempts = this.options.closeAttempts ?? 6;
    // Bounded, so the rows are logged before the process's own last-resort exit (main.ts).
    const deadline = Date.now() + 40_000;
    for (let i = 0; i < attempts && (this.count > 0 || this.flushing) && Date.now() < deadline; i++) {
      await this.flush();
      if (this.count > 0) await sleep(Math.min(200 * 2 ** i, 3000));
    }
    if (this.count > 0) {
      this.options.logger.error(
        { event: 'warehouse_rows_unwritten', rows: this.queued },
        `${this.count} warehouse rows could not be written before shutdown; they are in this log entry`,
      );
    }
  }

  private arm(delayMs: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delayMs);
  }

  private async writeQueued(): Promise<void> {
    const batch = this.queued;
    this.queued = {};
    this.count = 0;
    for (const [table, rows] of Object.entries(batch) as [TableName, Row<TableName>[]][]) {
      try {
        const ms = this.options.insertTimeoutMs ?? 10_000;
        await withTimeout(this.options.warehouse.insert(table, rows), ms, () => new Error(`warehouse insert timed out after ${ms} ms`));
        this.written += rows.length;
        this.failures = 0;
      } catch (err) {
        const message = (err as Error).message;
        // Outage: put the rows back in front and retry with backoff.
        this.failures++;
        ((this.queued[table] ??= []) as Row<TableName>[]).unshift(...rows);
        this.count += rows.length;
        const delay = Math.min(this.options.flushMs * 2 ** this.failures, 30_000);
        this.options.logger.warn({ err, table, rows: rows.length, retry_in_ms: delay }, `warehouse write failed (${message}); will retry`);
      }
    }
    if (this.count > 0 && !this.closed) this.arm(Math.min(this.options.flushMs * 2 ** this.failures, 30_000));
  }
}
