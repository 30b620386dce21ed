import { randomBytes, randomUUID } from 'node:crypto';
import { sleep, withTimeout } from '../core/async';
import { spillKeys } from '../core/layout';
import type { Logger } from '../core/log';
import { ObjectStore, PreconditionFailedError, readJson, writeJson } from '../core/storage/object-store';
import type { Row, TableName } from '../core/warehouse/tables';
import { checkRows, reviveRows, serializeRows, Warehouse } from '../core/warehouse/warehouse';

/**
 * Warehouse writes off the request path, with nothing lost and nothing written twice.
 *
 *  - Every row gets an insert id when it is queued, kept through retries, spills and
 *    replays: the warehouse skips an id it has written (a timed-out insert that did
 *    succeed is not written again).
 *  - Rows wait in memory at most `flushMs` (or until `maxBatchRows` are waiting) and are
 *    written in batches. At most `maxQueuedRows` wait in memory; more are spilled.
 *  - When an insert fails, or takes longer than `slowInsertMs`, the batch is spilled to
 *    the object store (`spillKeys`) and the sink is "degraded": from then on {@link add}
 *    resolves only once the rows are in the object store, so a response is sent only for
 *    rows that survive a `kill -9`. Spilled batches are replayed (every `replayMs`, and
 *    at start for the batches a crashed instance left) by whichever instance claims them
 *    first (a lease object); a successful insert ends the degraded state.
 *  - {@link close} writes what is queued within a deadline and spills the rest; rows are
 *    logged in full only if even the object store fails.
 * Left to chance: rows queued in the last `flushMs` while the warehouse looked healthy
 * are lost if the process is killed (SIGKILL, OOM) before the flush. SIGTERM loses none.
 *
 * Rows are validated against the table schema when they are queued (a bad row is a bug
 * and fails the request that made it), so a failed write is an outage and is retried.
 */

export interface EventSinkOptions {
  warehouse: Warehouse;
  logger: Logger;
  /** Where batches go when the warehouse fails (the raw bucket); without it they wait in memory. */
  spill?: ObjectStore;
  flushMs: number;
  maxBatchRows?: number;
  maxQueuedRows?: number;
  /** An insert that takes longer counts as failed, and is retried from the spill. */
  insertTimeoutMs?: number;
  /** An insert still running after this long turns on durable adds (the warehouse may be hanging). */
  slowInsertMs?: number;
  /** How often spilled batches are replayed while degraded (every minute otherwise). */
  replayMs?: number;
  /** A replayer that claimed a batch and did not finish within this is presumed dead. */
  leaseMs?: number;
}

interface Entry {
  table: TableName;
  id: string;
  row: Row<TableName>;
}

interface SpilledBatch {
  instance: string;
  createdAt: string;
  entries: Array<{ table: TableName; id: string; row: Record<string, unknown> }>;
}

export class EventSink {
  private queue: Entry[] = [];
  /** The batch being inserted now (entries leave it as they are written). */
  private inFlight: Entry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private replayTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private replaying: Promise<void> | undefined;
  private closed = false;
  private seq = 0;
  /** The warehouse failed (or hangs) and nothing has been written since: adds are made durable first. */
  degraded = false;
  /** Rows added in this tick while degraded, spilled together (one object for a burst). */
  private group: { entries: Entry[]; written: Promise<void> } | undefined;
  private readonly instance = randomBytes(4).toString('hex');
  /** Spilled batches this instance is replaying (their leases are released on close). */
  private readonly leased = new Set<string>();
  written = 0;
  spilled = 0;
  replayed = 0;

  constructor(private readonly options: EventSinkOptions) {
    // Batches a crashed instance left: replayed soon after start, then every minute.
    if (options.spill) this.scheduleReplay(Math.min(2000, options.replayMs ?? 5000));
  }

  /**
   * Queues rows (validated here). Resolves at once while the warehouse is healthy; while it
   * is not, once the rows are in the object store.
   */
  add<T extends TableName>(table: T, rows: Row<T>[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    checkRows(table, rows);
    const entries = rows.map((row) => ({ table, id: randomUUID(), row: row as Row<TableName> }));
    if (this.closed && !this.options.spill) {
      // Should not happen (the server stops accepting requests first); never drop silently.
      this.logUnwritten(entries, 'they arrived after shutdown');
      return Promise.resolve();
    }
    if (this.closed || (this.degraded && this.options.spill)) return this.durable(entries);
    this.queue.push(...entries);
    const maxQueued = this.options.maxQueuedRows ?? 5000;
    if (this.queue.length > maxQueued && this.options.spill) {
      // The warehouse is not keeping up: the oldest rows go to the object store.
      return this.durable(this.queue.splice(0, this.queue.length - maxQueued));
    }
    if (this.queue.length >= (this.options.maxBatchRows ?? 500)) void this.flush();
    else this.arm(this.options.flushMs);
    return Promise.resolve();
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Writes what is queued now (one flush at a time; a second call waits for the first). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.queue.length === 0) return;
    this.flushing = this.writeQueued().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /**
   * Stops the timers, writes what is queued within `deadlineMs`, spills what could not be
   * written, and logs in full only what could not be spilled either.
   */
  async close(deadlineMs = 3000): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.replayTimer);
    const until = Date.now() + deadlineMs;
    // A replay in progress stops after its current batch.
    await withTimeout(this.replaying ?? Promise.resolve(), deadlineMs / 4, () => new Error('replay deadline')).catch(() => undefined);
    // Half the time for the warehouse (batch by batch), the rest for the object store.
    const flushUntil = Date.now() + deadlineMs / 2;
    while ((this.queue.length > 0 || this.flushing) && Date.now() < flushUntil) {
      await withTimeout(this.flush(), Math.max(1, flushUntil - Date.now()), () => new Error('flush deadline')).catch(() => undefined);
      if (this.queue.length > 0) await sleep(Math.min(100, Math.max(0, flushUntil - Date.now())));
    }
    // What is still queued, and a batch still being inserted (a hanging warehouse): its ids
    // make a later replay skip whatever the insert does write.
    const left = [...this.inFlight.splice(0), ...this.queue.splice(0)];
    if (left.length > 0) {
      try {
        // At least a second for the object store, even when the warehouse used up the deadline.
        await withTimeout(this.spillBatch(left), Math.max(1000, until - Date.now()), () => new Error('spill timed out'));
      } catch (err) {
        this.logUnwritten(left, (err as Error).message);
      }
    }
    await this.group?.written.catch(() => undefined);
    // A replay stuck on a hanging warehouse must not keep its batches from the next instance.
    for (const id of this.leased) await this.options.spill?.delete(spillKeys.lease(id)).catch(() => undefined);
  }

  private arm(delayMs: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delayMs);
  }

  private async writeQueued(): Promise<void> {
    const batch = this.queue.splice(0, this.options.maxBatchRows ?? 500);
    this.inFlight = [...batch];
    const failedIds = new Set<string>();
    for (const [table, entries] of byTable(batch)) {
      try {
        await this.insert(table, entries);
        this.written += entries.length;
        const done = new Set(entries.map((e) => e.id));
        this.inFlight = this.inFlight.filter((e) => !done.has(e.id));
        this.recovered();
      } catch (err) {
        this.options.logger.warn({ err, table, rows: entries.length }, `warehouse write failed (${(err as Error).message}); spilling`);
        for (const e of entries) failedIds.add(e.id);
      }
    }
    // Unless close() took them over meanwhile.
    const failed = this.inFlight.filter((e) => failedIds.has(e.id));
    this.inFlight = [];
    if (failedIds.size > 0) {
      this.degraded = true;
      if (this.options.spill) {
        try {
          await this.spillBatch(failed);
        } catch (err) {
          this.options.logger.error({ err }, 'spilling warehouse rows failed too; keeping them in memory');
          this.queue.unshift(...failed);
        }
        this.scheduleReplay(this.options.replayMs ?? 5000);
      } else {
        this.queue.unshift(...failed);
      }
    }
    if (this.queue.length > 0 && !this.closed) this.arm(this.degraded ? (this.options.replayMs ?? 5000) : this.options.flushMs);
  }

  /** One insert with the rows' ids, timed out; a slow one turns on durable adds while it runs. */
  private async insert(table: TableName, entries: Entry[]): Promise<void> {
    const ms = this.options.insertTimeoutMs ?? 5000;
    const slow = setTimeout(() => {
      if (!this.degraded)
        this.options.logger.warn({ table }, 'warehouse insert is slow: new rows are spilled before they are acknowledged');
      this.degraded = true;
    }, this.options.slowInsertMs ?? 1000);
    try {
      const rows = entries.map((e) => e.row);
      await withTimeout(
        this.options.warehouse.insert(table, rows, { insertIds: entries.map((e) => e.id) }),
        ms,
        () => new Error(`warehouse insert timed out after ${ms} ms`),
      );
    } finally {
      clearTimeout(slow);
    }
  }

  private recovered(): void {
    if (!this.degraded) return;
    this.degraded = false;
    this.options.logger.info({ event: 'warehouse_recovered' }, 'warehouse writes work again; replaying spilled batches');
    this.scheduleReplay(0);
  }

  /** Spills `entries` before resolving, together with whatever else is added in the same tick. */
  private durable(entries: Entry[]): Promise<void> {
    if (!this.options.spill) {
      this.queue.push(...entries);
      return Promise.resolve();
    }
    if (!this.group) {
      const group: { entries: Entry[]; written: Promise<void> } = { entries: [], written: Promise.resolve() };
      group.written = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        this.group = undefined;
        await this.spillBatch(group.entries);
        this.scheduleReplay(this.options.replayMs ?? 5000);
      });
      this.group = group;
    }
    this.group.entries.push(...entries);
    return this.group.written;
  }

  private async spillBatch(entries: Entry[]): Promise<void> {
    const store = this.options.spill;
    if (!store) throw new Error('no object store to spill to');
    const batch: SpilledBatch = {
      instance: this.instance,
      createdAt: new Date().toISOString(),
      entries: entries.map((e) => ({ table: e.table, id: e.id, row: serializeRows([e.row as Record<string, unknown>])[0] })),
    };
    const id = `${batch.createdAt.replace(/[-:.]/g, '')}-${this.instance}-${String(this.seq++).padStart(6, '0')}`;
    await writeJson(store, spillKeys.batch(id), batch, { ifGenerationMatch: '0' });
    this.spilled += entries.length;
    this.options.logger.warn(
      { event: 'warehouse_rows_spilled', rows: entries.length, batch: id },
      `${entries.length} warehouse rows spilled`,
    );
  }

  private scheduleReplay(delayMs: number): void {
    if (!this.options.spill || this.closed) return;
    clearTimeout(this.replayTimer);
    this.replayTimer = setTimeout(() => {
      this.replayTimer = undefined;
      this.replaying ??= this.replay().finally(() => {
        this.replaying = undefined;
        this.scheduleReplay(this.degraded ? (this.options.replayMs ?? 5000) : 60_000);
      });
    }, delayMs);
    this.replayTimer.unref();
  }

  /** Inserts every spilled batch this instance can claim; stops at the first failure (the warehouse is still down). */
  async replay(): Promise<void> {
    const store = this.options.spill;
    if (!store) return;
    for (const obj of await store.list(spillKeys.batchesPrefix)) {
      if (this.closed) return;
      const id = obj.key.slice(spillKeys.batchesPrefix.length).replace(/\.json$/, '');
      if (!(await this.claim(store, id))) continue;
      this.leased.add(id);
      try {
        const batch = await readJson<SpilledBatch>(store, obj.key);
        if (batch) {
          const entries = batch.entries.map((e) => ({ table: e.table, id: e.id, row: reviveRows(e.table, [e.row])[0] }));
          for (const [table, group] of byTable(entries)) await this.insert(table, group);
          await store.delete(obj.key);
          this.replayed += entries.length;
          this.options.logger.info(
            { event: 'warehouse_rows_replayed', rows: entries.length, batch: id },
            `${entries.length} spilled rows written`,
          );
        }
        this.recovered();
      } catch (err) {
        this.degraded = true;
        this.options.logger.warn({ err, batch: id }, `replaying spilled rows failed (${(err as Error).message}); will retry`);
        await store.delete(spillKeys.lease(id)).catch(() => undefined);
        return;
      } finally {
        this.leased.delete(id);
      }
      await store.delete(spillKeys.lease(id)).catch(() => undefined);
    }
  }

  /** A lease object makes one instance the replayer of a batch; a lease older than `leaseMs` is taken over. */
  private async claim(store: ObjectStore, id: string): Promise<boolean> {
    const lease = { instance: this.instance, at: new Date().toISOString() };
    try {
      await writeJson(store, spillKeys.lease(id), lease, { ifGenerationMatch: '0' });
      return true;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
    }
    const held = await store.readIfExists(spillKeys.lease(id));
    if (!held) return false;
    const at = Date.parse((JSON.parse(held.data.toString('utf8')) as { at?: string }).at ?? '');
    if (Date.now() - at < (this.options.leaseMs ?? 60_000)) return false;
    try {
      await writeJson(store, spillKeys.lease(id), lease, { ifGenerationMatch: held.info.generation });
      return true;
    } catch (err) {
      if (err instanceof PreconditionFailedError) return false;
      throw err;
    }
  }

  private logUnwritten(entries: Entry[], why: string): void {
    const rows: Record<string, unknown[]> = {};
    for (const e of entries) (rows[e.table] ??= []).push({ insert_id: e.id, ...e.row });
    this.options.logger.error(
      { event: 'warehouse_rows_unwritten', rows },
      `${entries.length} warehouse rows could be neither written nor spilled (${why}); they are in this log entry`,
    );
  }
}

function byTable(entries: Entry[]): Map<TableName, Entry[]> {
  const out = new Map<TableName, Entry[]>();
  for (const e of entries) {
    const list = out.get(e.table);
    if (list) list.push(e);
    else out.set(e.table, [e]);
  }
  return out;
}
