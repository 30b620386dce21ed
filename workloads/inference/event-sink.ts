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
 *  - With `writeAhead` (the service's default), every row is in the object store before
 *    {@link add} resolves: the rows added in one tick share one "pending" object
 *    (`spillKeys.pending`), deleted once all of them are written (or spilled). A `kill -9`
 *    at any moment loses no acknowledged row: a pending object older than
 *    `writeAheadOrphanMs` whose instance is gone is replayed like a spilled batch.
 *  - Rows wait in memory at most `flushMs` (or until `maxBatchRows` are waiting) and are
 *    written in batches. At most `maxQueuedRows` wait in memory; more are spilled.
 *  - When an insert fails, or takes longer than `slowInsertMs`, the batch is spilled to
 *    the object store (`spillKeys`) and the sink is "degraded": from then on {@link add}
 *    resolves only once the rows are in the object store (a spilled batch, not queued).
 *    Spilled batches are replayed (every `replayMs`, and at start for the batches a
 *    crashed instance left) by whichever instance claims them first (a lease object); a
 *    successful insert ends the degraded state.
 *  - {@link close} writes what is queued within a deadline and spills the rest; rows are
 *    logged in full only if even the object store fails.
 * Without `writeAhead`, rows queued in the last `flushMs` while the warehouse looked healthy
 * are lost if the process is killed (SIGKILL, OOM) before the flush; SIGTERM loses none. If
 * the object store fails a write-ahead, the rows stay queued in memory (logged as such): an
 * answer is not refused for want of a second copy.
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
  /** Put every row in the object store before acknowledging it (needs `spill`). */
  writeAhead?: boolean;
  /**
   * A pending object of another instance older than this is an orphan (its instance died
   * before writing the rows) and is replayed. A live instance deletes or spills its rows
   * well within it; default 2 × (flushMs + insertTimeoutMs) + 5 s. Replaying one too early
   * costs an insert the warehouse skips (same insert ids), never a second row.
   */
  writeAheadOrphanMs?: number;
}

interface Entry {
  table: TableName;
  id: string;
  row: Row<TableName>;
  /** The pending object holding this row, while it is neither written nor spilled. */
  pending?: PendingObject;
}

/** Rows whose write-ahead has started: queued for the warehouse on commit, dropped on cancel. */
export interface Reservation {
  commit(): Promise<void>;
  cancel(): void;
}

/** Rows added in one tick, written ahead to one pending object. */
interface PendingObject {
  id: string;
  entries: Entry[];
  /** Rows of it not yet written or spilled; at 0 the object is deleted. */
  left: number;
  /** 'writing' until the object is stored; 'gone' when it was deleted, or not written (nothing to delete). */
  state: 'writing' | 'stored' | 'gone';
  stored: Promise<void>;
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
  /** The pending object the rows of this tick go to (write-ahead). */
  private pendingNow: PendingObject | undefined;
  /** Deletions of pending objects in progress (close waits for them). */
  private readonly deleting = new Set<Promise<void>>();
  /** When the youngest pending object of another instance becomes an orphan (ms from the last replay). */
  private orphanDueMs: number | undefined;
  written = 0;
  spilled = 0;
  replayed = 0;

  constructor(private readonly options: EventSinkOptions) {
    // Batches a crashed instance left: replayed soon after start, then every minute.
    if (options.spill) this.scheduleReplay(Math.min(2000, options.replayMs ?? 5000));
  }

  /**
   * Queues rows (validated here). Resolves once they are in the object store (written ahead,
   * or spilled while the warehouse is failing), at once without an object store.
   */
  add<T extends TableName>(table: T, rows: Row<T>[]): Promise<void> {
    return this.reserve(table, rows).commit();
  }

  /**
   * Starts writing `rows` ahead now, so that a request can overlap that write with its own
   * (an upload's image and record): `commit()` queues them for the warehouse and resolves as
   * {@link add} does; `cancel()` drops them (the request failed before its answer). Rows are
   * validated here. A kill -9 between the two may leave them to be replayed all the same:
   * rows of a prediction that was made, whose answer was never sent.
   */
  reserve<T extends TableName>(table: T, rows: Row<T>[]): Reservation {
    if (rows.length === 0) return { commit: () => Promise.resolve(), cancel: () => undefined };
    checkRows(table, rows);
    const entries = rows.map((row) => ({ table, id: randomUUID(), row: row as Row<TableName> }));
    const { spill, writeAhead } = this.options;
    const ahead = writeAhead && spill && !this.closed && !this.degraded ? this.writeAhead(entries) : undefined;
    let used = false;
    return {
      commit: () => {
        if (used) throw new Error('a reservation is committed or cancelled once');
        used = true;
        return this.enqueue(entries, ahead);
      },
      cancel: () => {
        if (used) return;
        used = true;
        this.settle(entries);
      },
    };
  }

  private enqueue(entries: Entry[], ahead: Promise<void> | undefined): Promise<void> {
    if (this.closed && !this.options.spill) {
      // Should not happen (the server stops accepting requests first); never drop silently.
      this.logUnwritten(entries, 'they arrived after shutdown');
      return Promise.resolve();
    }
    // Failing or shutting down: spilled before the answer (and the pending copy, if any, then deleted).
    if (this.closed || (this.degraded && this.options.spill)) return Promise.all([ahead, this.durable(entries)]).then(() => undefined);
    this.queue.push(...entries);
    const maxQueued = this.options.maxQueuedRows ?? 5000;
    if (this.queue.length > maxQueued && this.options.spill) {
      // The warehouse is not keeping up: the oldest rows go to the object store.
      return Promise.all([ahead, this.durable(this.queue.splice(0, this.queue.length - maxQueued))]).then(() => undefined);
    }
    if (this.queue.length >= (this.options.maxBatchRows ?? 500)) void this.flush();
    else this.arm(this.options.flushMs);
    return ahead ?? Promise.resolve();
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
    await this.pendingNow?.stored;
    await Promise.all([...this.deleting]);
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
        this.settle(entries);
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

  /** A batch object of `entries`, and its id (time, instance, sequence: unique, sorts by time). */
  private batchOf(entries: Entry[]): { id: string; batch: SpilledBatch } {
    const batch: SpilledBatch = {
      instance: this.instance,
      createdAt: new Date().toISOString(),
      entries: entries.map((e) => ({ table: e.table, id: e.id, row: serializeRows([e.row as Record<string, unknown>])[0] })),
    };
    return { id: `${batch.createdAt.replace(/[-:.]/g, '')}-${this.instance}-${String(this.seq++).padStart(6, '0')}`, batch };
  }

  private async spillBatch(entries: Entry[]): Promise<void> {
    const store = this.options.spill;
    if (!store) throw new Error('no object store to spill to');
    const { id, batch } = this.batchOf(entries);
    await writeJson(store, spillKeys.batch(id), batch, { ifGenerationMatch: '0' });
    this.settle(entries);
    this.spilled += entries.length;
    this.options.logger.warn(
      { event: 'warehouse_rows_spilled', rows: entries.length, batch: id },
      `${entries.length} warehouse rows spilled`,
    );
  }

  /** Writes `entries` ahead to this tick's pending object; resolves once it is stored (or could not be). */
  private writeAhead(entries: Entry[]): Promise<void> {
    const store = this.options.spill!;
    let p = this.pendingNow;
    if (!p) {
      const created: PendingObject = { id: '', entries: [], left: 0, state: 'writing', stored: Promise.resolve() };
      created.stored = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        this.pendingNow = undefined;
        // Rows written or spilled while this tick's object was waiting need no second copy.
        const { id, batch } = this.batchOf(created.entries.filter((e) => e.pending === created));
        created.id = id;
        try {
          if (batch.entries.length > 0) await writeJson(store, spillKeys.pending(id), batch, { ifGenerationMatch: '0' });
          created.state = batch.entries.length > 0 ? 'stored' : 'gone';
        } catch (err) {
          created.state = 'gone';
          this.options.logger.warn(
            { err, rows: batch.entries.length },
            `writing rows ahead to the object store failed (${(err as Error).message}); they are in memory only until written`,
          );
        }
        if (created.left === 0) this.dropPending(created);
      });
      this.pendingNow = p = created;
    }
    for (const e of entries) e.pending = p;
    p.entries.push(...entries);
    p.left += entries.length;
    return p.stored;
  }

  /** `entries` are written or spilled: their pending objects go once all of their rows are. */
  private settle(entries: Entry[]): void {
    for (const e of entries) {
      const p = e.pending;
      if (!p) continue;
      e.pending = undefined;
      p.left--;
      if (p.left === 0 && p.state !== 'writing') this.dropPending(p);
    }
  }

  private dropPending(p: PendingObject): void {
    if (p.state !== 'stored') return;
    p.state = 'gone'; // deleted once
    const done: Promise<void> = this.options
      .spill!.delete(spillKeys.pending(p.id))
      .catch((err: unknown) =>
        // Left behind, it is replayed as an orphan later: an insert the warehouse skips (same ids).
        this.options.logger.warn({ err, pending: p.id }, 'a written-ahead object could not be deleted'),
      )
      .finally(() => this.deleting.delete(done));
    this.deleting.add(done);
  }

  private scheduleReplay(delayMs: number): void {
    if (!this.options.spill || this.closed) return;
    clearTimeout(this.replayTimer);
    this.replayTimer = setTimeout(() => {
      this.replayTimer = undefined;
      this.replaying ??= this.replay().finally(() => {
        this.replaying = undefined;
        const next = this.degraded ? (this.options.replayMs ?? 5000) : 60_000;
        this.scheduleReplay(Math.min(next, this.orphanDueMs ?? next));
      });
    }, delayMs);
    this.replayTimer.unref();
  }

  /**
   * Inserts every spilled batch this instance can claim, then every orphaned pending object
   * (another instance's, older than `writeAheadOrphanMs`); stops at the first failure (the
   * warehouse is still down).
   */
  async replay(): Promise<void> {
    const store = this.options.spill;
    if (!store) return;
    for (const obj of await store.list(spillKeys.batchesPrefix)) {
      const id = obj.key.slice(spillKeys.batchesPrefix.length).replace(/\.json$/, '');
      if (this.closed || !(await this.replayObject(store, obj.key, id))) return;
    }
    const orphanMs = this.options.writeAheadOrphanMs ?? 2 * (this.options.flushMs + (this.options.insertTimeoutMs ?? 5000)) + 5000;
    let youngest: number | undefined;
    this.orphanDueMs = undefined;
    for (const obj of await store.list(spillKeys.pendingPrefix)) {
      const id = obj.key.slice(spillKeys.pendingPrefix.length).replace(/\.json$/, '');
      if (id.includes(`-${this.instance}-`)) continue; // this instance's own: its rows are in memory
      const age = Date.now() - obj.updated.getTime();
      if (age < orphanMs) {
        youngest = Math.min(youngest ?? Infinity, orphanMs - age);
        continue;
      }
      if (this.closed || !(await this.replayObject(store, obj.key, `pending-${id}`))) return;
    }
    // An instance that died just before this one started: its pending rows are replayed as soon as they are orphans.
    this.orphanDueMs = youngest === undefined ? undefined : youngest + 100;
  }

  /** Claims, inserts and deletes one batch object; false when the insert failed. */
  private async replayObject(store: ObjectStore, key: string, leaseId: string): Promise<boolean> {
    if (!(await this.claim(store, leaseId))) return true;
    this.leased.add(leaseId);
    try {
      const batch = await readJson<SpilledBatch>(store, key);
      if (batch) {
        const entries = batch.entries.map((e) => ({ table: e.table, id: e.id, row: reviveRows(e.table, [e.row])[0] }));
        for (const [table, group] of byTable(entries)) await this.insert(table, group);
        await store.delete(key);
        this.replayed += entries.length;
        this.options.logger.info(
          { event: 'warehouse_rows_replayed', rows: entries.length, batch: leaseId },
          `${entries.length} spilled rows written`,
        );
      }
      this.recovered();
    } catch (err) {
      this.degraded = true;
      this.options.logger.warn({ err, batch: leaseId }, `replaying spilled rows failed (${(err as Error).message}); will retry`);
      await store.delete(spillKeys.lease(leaseId)).catch(() => undefined);
      return false;
    } finally {
      this.leased.delete(leaseId);
    }
    await store.delete(spillKeys.lease(leaseId)).catch(() => undefined);
    return true;
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
