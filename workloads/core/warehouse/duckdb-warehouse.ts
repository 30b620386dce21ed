import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { duckDbAddColumns, duckDbDdl } from './schema-dsl';
import { Row, TABLE_NAMES, tableDef, TableName } from './tables';
import { checkInsertIds, checkRows, InsertOptions, QueryRow, renderTables, Value, Warehouse } from './warehouse';

const INSERTED = '"_inserted"';

/**
 * The local warehouse: one DuckDB file under the data root, with the same tables as
 * BigQuery, created from the same definitions. DuckDB lets one process write a file, so
 * other local processes reach it through the HTTP warehouse served by its owner.
 */
export class DuckDbWarehouse implements Warehouse {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {}

  static async open(file: string): Promise<DuckDbWarehouse> {
    if (file !== ':memory:') await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
    // No file, network or extension access from SQL (read_text, COPY ... TO, ATTACH, INSTALL):
    // the warehouse reads and writes its own tables only, and no statement can turn this back on.
    const instance = await DuckDBInstance.create(file, { enable_external_access: 'false' });
    const conn = await instance.connect();
    // BigQuery works in UTC. DuckDB defaults to the machine's time zone, which would shift
    // TIMESTAMP casts, comparisons and DATE(ts) on a machine outside UTC: pin it.
    await conn.run("SET TimeZone = 'UTC'");
    await conn.run('SET lock_configuration = true');
    for (const name of TABLE_NAMES) {
      await conn.run(duckDbDdl(tableDef(name)));
      for (const alter of duckDbAddColumns(tableDef(name))) await conn.run(alter);
    }
    // Insert ids already written (BigQuery keeps them for its own de-duplication; here it is a table).
    await conn.run(`CREATE TABLE IF NOT EXISTS ${INSERTED} (insert_id VARCHAR PRIMARY KEY)`);
    return new DuckDbWarehouse(instance, conn);
  }

  /** One statement at a time on the connection; DuckDB transactions are per connection. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async insert<T extends TableName>(table: T, rows: Row<T>[], options?: InsertOptions): Promise<void> {
    checkRows(table, rows);
    checkInsertIds(rows, options);
    if (rows.length === 0) return;
    const def = tableDef(table);
    const cols = Object.keys(def.fields);
    const placeholders = cols.map((c) => (def.fields[c].type === 'TIMESTAMP' ? `CAST(? AS TIMESTAMPTZ)` : '?')).join(', ');
    const sql = `INSERT INTO "${def.name}" (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${placeholders})`;
    await this.serial(async () => {
      await this.conn.run('BEGIN TRANSACTION');
      try {
        for (const [i, row] of (rows as Record<string, unknown>[]).entries()) {
          const id = options?.insertIds?.[i];
          if (id !== undefined) {
            const fresh = await this.conn.runAndReadAll(`INSERT INTO ${INSERTED} VALUES (?) ON CONFLICT DO NOTHING RETURNING insert_id`, [
              id,
            ]);
            if (fresh.currentRowCount === 0) continue; // written by an earlier attempt
          }
          const values = cols.map((c) => {
            const v = row[c];
            if (v === undefined || v === null) return null;
            return v instanceof Date ? v.toISOString() : (v as string | number | boolean);
          });
          await this.conn.run(sql, values);
        }
        await this.conn.run('COMMIT');
      } catch (err) {
        await this.conn.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  async query(sql: string, params: Record<string, Value> = {}): Promise<QueryRow[]> {
    const text = renderTables(sql, (t) => `"${t}"`).replace(/@([A-Za-z_][A-Za-z0-9_]*)/g, (_m, n: string) => {
      if (!(n in params)) throw new Error(`SQL parameter @${n} has no value; given: ${Object.keys(params).join(', ') || '(none)'}`);
      return `$${n}`;
    });
    const used = Object.fromEntries(Object.entries(params).filter(([k]) => new RegExp(`\\$${k}\\b`).test(text)));
    const reader = await this.serial(() => this.conn.runAndReadAll(text, used as Record<string, string | number | boolean | null>));
    return reader.getRowObjectsJS().map((row) => {
      const out: QueryRow = {};
      for (const [k, v] of Object.entries(row)) out[k] = toValue(v);
      return out;
    });
  }

  async close(): Promise<void> {
    await this.queue;
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

function toValue(v: unknown): Value {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  return String(v);
}
