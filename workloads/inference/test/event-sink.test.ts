import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { LocalObjectStore } from '../../core/storage/local-object-store';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import type { Row, TableName } from '../../core/warehouse/tables';
import type { QueryRow, Warehouse } from '../../core/warehouse/warehouse';
import { EventSink } from '../event-sink';
import { eventually } from './fixtures/service';

/** A warehouse that fails its first `failures` inserts (an outage), then works. */
class FlakyWarehouse implements Warehouse {
  rows: Row<'feedback'>[] = [];
  calls = 0;
  constructor(private failures: number) {}
  async insert<T extends TableName>(_table: T, rows: Row<T>[]): Promise<void> {
    this.calls++;
    if (this.failures-- > 0) throw new Error('warehouse at http://127.0.0.1:1 answered 503: unavailable');
    this.rows.push(...(rows as unknown as Row<'feedback'>[]));
  }
  async query(): Promise<QueryRow[]> {
    return [];
  }
  async close(): Promise<void> {}
}

const row = (i: number): Row<'feedback'> => ({
  ts: new Date(),
  feedback_id: `f${i}`,
  prediction_id: `p${i}`,
  correct: i % 2 === 0,
  label: 'beagle',
  predicted_label: 'beagle',
  model_version: 'v1',
});

describe('EventSink', () => {
  const logger = pino({ level: 'silent' });

  test('batches rows, retries through an outage, and loses nothing on close', async () => {
    const wh = new FlakyWarehouse(3);
    const sink = new EventSink({ warehouse: wh, logger, flushMs: 20 });
    for (let i = 0; i < 50; i++) sink.add('feedback', [row(i)]);
    expect(wh.calls).toBe(0); // nothing written on the request path
    await sink.close();
    expect(wh.rows.map((r) => r.feedback_id)).toEqual(Array.from({ length: 50 }, (_, i) => `f${i}`));
    expect(wh.calls).toBeLessThan(10); // batched, not one insert per row
  });

  test('an invalid row fails where it is made, not in the background', () => {
    const sink = new EventSink({ warehouse: new FlakyWarehouse(0), logger, flushMs: 20 });
    expect(() => sink.add('feedback', [{ ...row(1), correct: 'yes' as unknown as boolean }])).toThrow(/correct/);
  });

  test('rows that still cannot be written at shutdown are logged in full, not silently dropped', async () => {
    const lines: string[] = [];
    const sink = new EventSink({
      warehouse: new FlakyWarehouse(1000),
      logger: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }),
      flushMs: 5,
    });
    sink.add('feedback', [row(7)]);
    await sink.close();
    const last = JSON.parse(lines[lines.length - 1]);
    expect(last.event).toBe('warehouse_rows_unwritten');
    expect(last.rows.feedback[0].feedback_id).toBe('f7');
  });
});

/**
 * Nothing lost, nothing doubled (issue 14, item 6). Reproduced before: a retried insert
 * got new insert ids (a timed-out insert that had succeeded was written twice), the queue
 * grew without bound, and rows waiting for a failed warehouse lived only in memory.
 */
describe('EventSink: stable insert ids, bounded queue, spill and replay', () => {
  const logger = pino({ level: 'silent' });
  let dir: string;
  let spill: LocalObjectStore;
  let duck: DuckDbWarehouse;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-sink-'));
    spill = new LocalObjectStore(dir);
    duck = await DuckDbWarehouse.open(':memory:');
  });
  afterEach(async () => {
    await duck.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
  const ids = async () => (await duck.query('SELECT feedback_id FROM {{feedback}} ORDER BY feedback_id')).map((r) => String(r.feedback_id));
  const expected = (n: number) => Array.from({ length: n }, (_, i) => `f${i}`).sort();

  /** Writes, then reports failure, the first `times` times: the client saw a timeout, the warehouse has the rows. */
  const succeedsButTimesOut = (times: number): Warehouse => ({
    insert: async (table, rows, options) => {
      await duck.insert(table, rows, options);
      if (times-- > 0) throw new Error('warehouse insert timed out after 5000 ms');
    },
    query: (sql, params) => duck.query(sql, params),
    close: async () => undefined,
  });
  const down = (): Warehouse => ({
    insert: async () => {
      throw new Error('warehouse at http://127.0.0.1:1 is unreachable (POST /warehouse/insert): ECONNREFUSED');
    },
    query: async () => [],
    close: async () => undefined,
  });
  const hanging = (): Warehouse => ({ insert: () => new Promise(() => undefined), query: async () => [], close: async () => undefined });

  test('a retried insert whose first attempt succeeded writes nothing twice', async () => {
    const sink = new EventSink({ warehouse: succeedsButTimesOut(1), logger, spill, flushMs: 10, replayMs: 50 });
    for (let i = 0; i < 20; i++) void sink.add('feedback', [row(i)]);
    await eventually(async () => (sink.replayed === 20 ? true : undefined));
    await sink.close();
    expect(await ids()).toEqual(expected(20));
  });

  test('the in-memory queue is bounded: with the warehouse hanging, the rest is spilled, and replayed exactly once later', async () => {
    const sink = new EventSink({
      warehouse: hanging(),
      logger,
      spill,
      flushMs: 10,
      maxBatchRows: 30,
      maxQueuedRows: 60,
      insertTimeoutMs: 60_000,
    });
    let maxPending = 0;
    for (let burst = 0; burst < 5; burst++) {
      await Promise.all(
        Array.from({ length: 60 }, (_, i) => {
          const added = sink.add('feedback', [row(burst * 60 + i)]);
          maxPending = Math.max(maxPending, sink.pending);
          return added;
        }),
      );
    }
    expect(maxPending).toBeLessThanOrEqual(60);
    await sink.close(500);
    const next = new EventSink({ warehouse: duck, logger, spill, flushMs: 10 });
    await next.replay();
    await next.close();
    expect(await ids()).toEqual(expected(300));
    expect(await spill.list('warehouse-spill/batches/')).toEqual([]);
  });

  test('once the warehouse failed, add() resolves only when the rows are in the object store; a crash then loses nothing', async () => {
    const sink = new EventSink({ warehouse: down(), logger, spill, flushMs: 10 });
    await sink.add('feedback', [row(0)]);
    await eventually(async () => (sink.degraded ? true : undefined));
    for (let i = 1; i < 30; i++) await sink.add('feedback', [row(i)]);
    // The process dies here (no close()): every acknowledged row is already spilled.
    const spilled = await Promise.all(
      (await spill.list('warehouse-spill/batches/')).map(
        async (o) => JSON.parse((await spill.read(o.key)).toString()).entries.length as number,
      ),
    );
    expect(spilled.reduce((a, b) => a + b, 0)).toBe(30);
    const next = new EventSink({ warehouse: duck, logger, spill, flushMs: 10 });
    await next.replay();
    await next.close();
    expect(await ids()).toEqual(expected(30));
  });

  test('close() with a hanging warehouse spills what it could not write instead of waiting for it', async () => {
    const sink = new EventSink({ warehouse: hanging(), logger, spill, flushMs: 10_000, insertTimeoutMs: 60_000 });
    for (let i = 0; i < 10; i++) await sink.add('feedback', [row(i)]);
    void sink.flush(); // an insert that never returns is in flight
    await sink.close(400);
    const next = new EventSink({ warehouse: duck, logger, spill, flushMs: 10 });
    await next.replay();
    await next.close();
    expect(await ids()).toEqual(expected(10));
  });

  test('write-ahead: a kill -9 with the warehouse healthy, before the flush, loses no acknowledged row', async () => {
    // Before write-ahead, these rows were in memory only (flushMs not yet reached): all lost.
    const sink = new EventSink({ warehouse: duck, logger, spill, flushMs: 60_000, writeAhead: true });
    await Promise.all(Array.from({ length: 25 }, (_, i) => sink.add('feedback', [row(i)])));
    expect(await ids()).toEqual([]);
    // The process dies here (no close()). A new instance replays the orphaned rows once they are old enough.
    const next = new EventSink({ warehouse: duck, logger, spill, flushMs: 10, writeAheadOrphanMs: 0 });
    await next.replay();
    await next.close();
    expect(await ids()).toEqual(expected(25));
    expect(await spill.list('warehouse-spill/')).toEqual([]);
    await sink.close(); // the dead instance's timer; its rows are skipped as written (same ids)
    expect(await ids()).toEqual(expected(25));
  });

  test('write-ahead: rows written normally leave no pending object, and a young one of a live instance is not replayed', async () => {
    const counting = { n: 0 };
    const wh: Warehouse = {
      insert: async (t, rows, o) => {
        counting.n += rows.length;
        await duck.insert(t, rows, o);
      },
      query: (sql, p) => duck.query(sql, p),
      close: async () => undefined,
    };
    const live = new EventSink({ warehouse: wh, logger, spill, flushMs: 60_000, writeAhead: true });
    for (let i = 0; i < 5; i++) await live.add('feedback', [row(i)]);
    expect((await spill.list('warehouse-spill/pending/')).length).toBeGreaterThan(0);
    // Another instance starting now must leave the live instance's fresh rows alone.
    const other = new EventSink({ warehouse: wh, logger, spill, flushMs: 10 });
    await other.replay();
    await other.close();
    expect(counting.n).toBe(0);
    await live.flush();
    await live.close();
    expect(await ids()).toEqual(expected(5));
    expect(counting.n).toBe(5);
    expect(await spill.list('warehouse-spill/')).toEqual([]);
  });

  test('write-ahead: rows that fail and are spilled are written once, with no pending object left', async () => {
    const sink = new EventSink({ warehouse: down(), logger, spill, flushMs: 10, writeAhead: true });
    for (let i = 0; i < 10; i++) await sink.add('feedback', [row(i)]);
    await eventually(async () => (sink.degraded ? true : undefined));
    await sink.close();
    expect(await spill.list('warehouse-spill/pending/')).toEqual([]);
    const next = new EventSink({ warehouse: duck, logger, spill, flushMs: 10, writeAheadOrphanMs: 0 });
    await next.replay();
    await next.close();
    expect(await ids()).toEqual(expected(10));
  });

  test('write-ahead: a cancelled reservation (the request failed) is neither written nor replayed', async () => {
    const sink = new EventSink({ warehouse: duck, logger, spill, flushMs: 10, writeAhead: true });
    const kept = sink.reserve('feedback', [row(0)]);
    const dropped = sink.reserve('feedback', [row(1)]);
    dropped.cancel();
    await kept.commit();
    await sink.close();
    const next = new EventSink({ warehouse: duck, logger, spill, flushMs: 10, writeAheadOrphanMs: 0 });
    await next.replay();
    await next.close();
    expect(await ids()).toEqual(['f0']);
    expect(await spill.list('warehouse-spill/')).toEqual([]);
  });

  test('two instances replaying at once write each spilled batch once', async () => {
    const first = new EventSink({ warehouse: down(), logger, spill, flushMs: 10 });
    await first.add('feedback', [row(0)]);
    await eventually(async () => (first.degraded ? true : undefined));
    for (let i = 1; i < 40; i++) await first.add('feedback', [row(i)]);
    await first.close();
    const inserted: string[] = [];
    const counting: Warehouse = {
      insert: async (_t, rows) => void inserted.push(...rows.map((r) => (r as Row<'feedback'>).feedback_id)),
      query: async () => [],
      close: async () => undefined,
    };
    const a = new EventSink({ warehouse: counting, logger, spill, flushMs: 10 });
    const b = new EventSink({ warehouse: counting, logger, spill, flushMs: 10 });
    await Promise.all([a.replay(), b.replay(), a.replay()]);
    await Promise.all([a.close(), b.close()]);
    expect(inserted.sort()).toEqual(expected(40));
  });
});
