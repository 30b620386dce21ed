import { validateRows } from './schema-dsl';
import { Row, tableDef, TableName, TABLES } from './tables';

/** A value in a query result. Timestamps come back as ISO-8601 strings on every backend. */
export type Value = string | number | boolean | null;
export type QueryRow = Record<string, Value>;

/**
 * The warehouse: BigQuery in the cloud, DuckDB locally (or a DuckDB owned by another
 * local process, over HTTP). SQL is written once in the dialect both engines share, with
 * tables referenced as `{{table_name}}` and parameters as `@name`.
 */
export interface Warehouse {
  /**
   * Validates every row against the table schema, then appends them (all or nothing).
   * With `insertIds` (one per row), a row whose id was inserted before is skipped, so a
   * retried insert whose first attempt did succeed writes nothing twice.
   */
  insert<T extends TableName>(table: T, rows: Row<T>[], options?: InsertOptions): Promise<void>;
  query(sql: string, params?: Record<string, Value>): Promise<QueryRow[]>;
  close(): Promise<void>;
}

export interface InsertOptions {
  /** A stable id per row (same order as the rows), kept across retries. */
  insertIds?: readonly string[];
}

/** Checks that there is one insert id per row. */
export function checkInsertIds(rows: readonly unknown[], options: InsertOptions | undefined): void {
  if (options?.insertIds && options.insertIds.length !== rows.length) {
    throw new Error(`${options.insertIds.length} insert ids for ${rows.length} rows: give one id per row`);
  }
}

/** Validation shared by all implementations, so a bad row fails the same way everywhere. */
export function checkRows<T extends TableName>(table: T, rows: Row<T>[]): void {
  if (!(table in TABLES)) throw new Error(`unknown table ${JSON.stringify(table)}; tables are ${Object.keys(TABLES).join(', ')}`);
  validateRows(tableDef(table), rows as Record<string, unknown>[]);
}

/** Replaces `{{table}}` references with the engine's qualified names. */
export function renderTables(sql: string, qualify: (table: TableName) => string): string {
  return sql.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (_m, name: string) => {
    if (!(name in TABLES)) throw new Error(`unknown table {{${name}}} in SQL; tables are ${Object.keys(TABLES).join(', ')}`);
    return qualify(name as TableName);
  });
}

/** JSON-safe copy of rows (Dates as ISO strings) for transport. */
export function serializeRows(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v])));
}

/** Inverse of {@link serializeRows}, driven by the table schema. */
export function reviveRows<T extends TableName>(table: T, rows: Record<string, unknown>[]): Row<T>[] {
  const def = tableDef(table);
  if (!def) throw new Error(`unknown table ${JSON.stringify(table)}`);
  const tsCols = Object.entries(def.fields)
    .filter(([, f]) => f.type === 'TIMESTAMP')
    .map(([n]) => n);
  return rows.map((r) => {
    const out: Record<string, unknown> = { ...r };
    for (const c of tsCols) if (typeof out[c] === 'string') out[c] = new Date(out[c] as string);
    return out as Row<T>;
  });
}
