import type { BigQuery } from '@google-cloud/bigquery';
import { randomUUID } from 'node:crypto';
import { Row, TableName } from './tables';
import { checkInsertIds, checkRows, InsertOptions, QueryRow, renderTables, serializeRows, Value, Warehouse } from './warehouse';

/**
 * BigQuery: streaming inserts (with insert ids, so a retried request does not duplicate
 * rows) into the tables the Pulumi warehouse component created from the same schemas,
 * and standard-SQL queries with named parameters.
 */
export class BigQueryWarehouse implements Warehouse {
  constructor(
    private readonly bigquery: BigQuery,
    readonly projectId: string,
    readonly datasetId: string,
    readonly location?: string,
  ) {}

  qualify(table: TableName): string {
    return `\`${this.projectId}.${this.datasetId}.${table}\``;
  }

  async insert<T extends TableName>(table: T, rows: Row<T>[], options?: InsertOptions): Promise<void> {
    checkRows(table, rows);
    checkInsertIds(rows, options);
    if (rows.length === 0) return;
    // BigQuery drops a row whose insertId it saw in the last minute or so (best effort).
    const payload = serializeRows(rows as Record<string, unknown>[]).map((json, i) => ({
      insertId: options?.insertIds?.[i] ?? randomUUID(),
      json,
    }));
    try {
      await this.bigquery.dataset(this.datasetId).table(table).insert(payload, { raw: true });
    } catch (err) {
      throw describeInsertError(`${this.projectId}.${this.datasetId}.${table}`, payload, err);
    }
  }

  async query(sql: string, params: Record<string, Value> = {}): Promise<QueryRow[]> {
    const text = renderTables(sql, (t) => this.qualify(t));
    const used = Object.fromEntries(Object.entries(params).filter(([k]) => new RegExp(`@${k}\\b`).test(text)));
    // BigQuery needs a type for null parameters; STRING is the safe choice for our SQL.
    const types = Object.fromEntries(
      Object.entries(used)
        .filter(([, v]) => v === null)
        .map(([k]) => [k, 'STRING']),
    );
    const [rows] = await this.bigquery.query({ query: text, params: used, types, location: this.location, useLegacySql: false });
    return (rows as Record<string, unknown>[]).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, toValue(v)])));
  }

  async close(): Promise<void> {
    // The client holds no open resources.
  }
}

/**
 * insertAll answers row problems as a PartialFailureError whose message is empty; name the
 * table, the row index and BigQuery's reasons instead. Rows BigQuery only "stopped" because
 * another row was bad are left out of the message.
 */
function describeInsertError(table: string, payload: unknown[], err: unknown): Error {
  const rowErrors = (err as { errors?: Array<{ row?: unknown; errors?: Array<{ reason?: string; message?: string }> }> }).errors;
  if ((err as Error).name !== 'PartialFailureError' || !Array.isArray(rowErrors)) return err as Error;
  const problems = rowErrors
    .map((e) => ({ index: payload.indexOf(e.row), errors: (e.errors ?? []).filter((x) => x.reason !== 'stopped') }))
    .filter((e) => e.errors.length > 0)
    .sort((a, b) => a.index - b.index)
    .map((e) => `row ${e.index}: ${e.errors.map((x) => `${x.reason ?? 'error'}: ${x.message ?? ''}`).join(', ')}`);
  const shown = problems.length > 5 ? [...problems.slice(0, 5), `and ${problems.length - 5} more`] : problems;
  return new Error(`BigQuery refused rows for ${table}: ${shown.join('; ') || 'no reason given'}`, { cause: err });
}

function toValue(v: unknown): Value {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'object' && v !== null && 'value' in v) {
    // BigQueryTimestamp / BigQueryInt and friends carry their value as a string.
    const inner = (v as { value: unknown }).value;
    return typeof inner === 'string' && /^\d{4}-\d\d-\d\dT/.test(inner) ? new Date(inner).toISOString() : (inner as Value);
  }
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v);
}
