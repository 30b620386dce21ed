import pino from 'pino';
import type { Row, TableName } from '../../core/warehouse/tables';
import type { QueryRow, Warehouse } from '../../core/warehouse/warehouse';
import { EventSink } from '../event-sink';

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
      closeAttempts: 2,
    });
    sink.add('feedback', [row(7)]);
    await sink.close();
    const last = JSON.parse(lines[lines.length - 1]);
    expect(last.event).toBe('warehouse_rows_unwritten');
    expect(last.rows.feedback[0].feedback_id).toBe('f7');
  });
});
