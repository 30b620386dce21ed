import { z } from 'zod';

/**
 * A tiny schema language for warehouse tables. One definition yields the BigQuery
 * schema (used by the Pulumi warehouse component and the BigQuery client), the DuckDB
 * DDL, the zod validator applied on insert, and the TypeScript row type.
 */

export type BigQueryType = 'STRING' | 'INT64' | 'FLOAT64' | 'BOOL' | 'TIMESTAMP';
export type Mode = 'REQUIRED' | 'NULLABLE';

export interface FieldDef<T> {
  type: BigQueryType;
  mode: Mode;
  description: string;
  /** Validator for one value; nullable fields accept null. */
  zod: z.ZodType<T>;
}

const make =
  <T>(type: BigQueryType, zod: z.ZodType<T>) =>
  (description: string): FieldDef<T> => ({ type, mode: 'REQUIRED', description, zod });

export const field = {
  string: make('STRING', z.string()),
  int: make('INT64', z.number().int()),
  float: make('FLOAT64', z.number().finite()),
  bool: make('BOOL', z.boolean()),
  timestamp: make('TIMESTAMP', z.date()),
  /** A closed set of strings (stored as STRING). */
  enumOf: <const V extends readonly [string, ...string[]]>(values: V) => make('STRING', z.enum(values)),
  /** A JSON document (stored as STRING so BigQuery and DuckDB share one dialect). */
  json: make(
    'STRING',
    z.string().refine((s) => isJson(s), 'must be a JSON document'),
  ),
};

export function nullable<T>(def: FieldDef<T>): FieldDef<T | null> {
  return { ...def, mode: 'NULLABLE', zod: def.zod.nullable() };
}

/**
 * A nullable column added after the table was first created: writers that predate it may
 * leave it out of their rows (it is optional in the row type and stored as null), and an
 * existing DuckDB file gets it on open (see {@link duckDbAddColumns}).
 */
export function added<T>(def: FieldDef<T>): FieldDef<T | null> & { added: true } {
  return { ...nullable(def), added: true };
}

export interface TableDef<F extends Record<string, FieldDef<unknown>>> {
  name: string;
  description: string;
  /** BigQuery time partitioning (daily) on this TIMESTAMP column. */
  partitionField: keyof F & string;
  clustering?: (keyof F & string)[];
  fields: F;
}

/** Any table definition, for code that walks definitions generically. */
export interface AnyTableDef {
  name: string;
  description: string;
  partitionField: string;
  clustering?: string[];
  fields: Record<string, FieldDef<unknown>>;
}

type AddedKeys<F> = { [K in keyof F]: F[K] extends { added: true } ? K : never }[keyof F];
type ValueOf<D> = D extends FieldDef<infer V> ? V : never;
export type RowOf<T> =
  T extends TableDef<infer F> ? { [K in Exclude<keyof F, AddedKeys<F>>]: ValueOf<F[K]> } & { [K in AddedKeys<F>]?: ValueOf<F[K]> } : never;

export function defineTable<F extends Record<string, FieldDef<unknown>>>(def: TableDef<F>): TableDef<F> {
  if (def.fields[def.partitionField]?.type !== 'TIMESTAMP') {
    throw new Error(`table ${def.name}: partition field ${def.partitionField} must be a TIMESTAMP`);
  }
  return def;
}

/** BigQuery JSON schema (the shape `bq mk` and `gcp.bigquery.Table.schema` take). */
export function bigQuerySchema(def: AnyTableDef): Array<{ name: string; type: BigQueryType; mode: Mode; description: string }> {
  return Object.entries(def.fields).map(([name, f]) => ({ name, type: f.type, mode: f.mode, description: f.description }));
}

const DUCKDB_TYPES: Record<BigQueryType, string> = {
  STRING: 'VARCHAR',
  INT64: 'BIGINT',
  FLOAT64: 'DOUBLE',
  BOOL: 'BOOLEAN',
  TIMESTAMP: 'TIMESTAMPTZ',
};

export function duckDbDdl(def: AnyTableDef): string {
  const cols = Object.entries(def.fields).map(
    ([name, f]) => `  "${name}" ${DUCKDB_TYPES[f.type]}${f.mode === 'REQUIRED' ? ' NOT NULL' : ''}`,
  );
  return `CREATE TABLE IF NOT EXISTS "${def.name}" (\n${cols.join(',\n')}\n)`;
}

/**
 * Nullable columns added to a table after it was first created: an existing local
 * warehouse file gets them (BigQuery takes the same additive change from the Pulumi schema).
 */
export function duckDbAddColumns(def: AnyTableDef): string[] {
  return Object.entries(def.fields)
    .filter(([, f]) => f.mode === 'NULLABLE')
    .map(([name, f]) => `ALTER TABLE "${def.name}" ADD COLUMN IF NOT EXISTS "${name}" ${DUCKDB_TYPES[f.type]}`);
}

export class RowValidationError extends Error {
  constructor(
    readonly table: string,
    readonly index: number,
    readonly problems: string[],
  ) {
    super(`invalid row ${index} for table ${table}: ${problems.join('; ')}`);
    this.name = 'RowValidationError';
  }
}

/** Validates rows against the table definition; unknown columns are errors too. */
export function validateRows(def: AnyTableDef, rows: readonly Record<string, unknown>[]): void {
  rows.forEach((row, index) => {
    const problems: string[] = [];
    for (const [name, f] of Object.entries(def.fields)) {
      const value = row[name] === undefined && f.mode === 'NULLABLE' ? null : row[name];
      const res = f.zod.safeParse(value);
      if (!res.success) {
        const msg = res.error.issues.map((i) => i.message).join(', ');
        problems.push(`column ${name} (${f.type}${f.mode === 'REQUIRED' ? ', required' : ''}) got ${describe(value)}: ${msg}`);
      }
    }
    for (const name of Object.keys(row)) {
      if (!(name in def.fields)) problems.push(`unknown column ${name}; columns are ${Object.keys(def.fields).join(', ')}`);
    }
    if (problems.length) throw new RowValidationError(def.name, index, problems);
  });
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v instanceof Date) return `Date(${isNaN(v.getTime()) ? 'invalid' : v.toISOString()})`;
  const s = JSON.stringify(v);
  return s && s.length > 60 ? `${s.slice(0, 57)}...` : String(s);
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}
