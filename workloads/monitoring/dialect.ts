/**
 * The few SQL fragments where BigQuery and DuckDB disagree, in one place. Panel and alert
 * SQL is written once against this interface; everything else in it is the dialect the two
 * engines share (CASE, AVG, COUNT, MAX_BY, CONCAT, CTEs, UNION ALL, ...).
 *
 * Three renderings exist:
 *  - `duckdb`: the local warehouse; the time range is the `@since` parameter.
 *  - `bigquery`: BigQuery through the `Warehouse` client; the time range is `@since` too.
 *  - `grafana`: BigQuery SQL for the grafana-bigquery-datasource plugin, where Grafana's
 *    `$__timeFilter(col)` macro stands in for `@since` (the dashboard's time picker).
 */

export const DIALECTS = ['duckdb', 'bigquery', 'grafana'] as const;
export type DialectName = (typeof DIALECTS)[number];

export type TimeUnit = 'minute' | 'hour' | 'day';

export interface Dialect {
  name: DialectName;
  /** Start of the time bucket a timestamp falls in, as a TIMESTAMP. */
  truncate(column: string, unit: TimeUnit): string;
  /** Continuous quantile `q` (0..1) of a numeric column, as an aggregate. */
  quantile(column: string, q: number): string;
  /** Predicate limiting a timestamp column to the selected time range (`@since` or Grafana's picker). */
  inRange(column: string): string;
  /** A timestamp `minutes` before now, for the alert windows. */
  minutesAgo(minutes: number): string;
  /** Minutes between a timestamp and now, as FLOAT64 / DOUBLE. */
  minutesSince(column: string): string;
}

const BQ_UNITS: Record<TimeUnit, string> = { minute: 'MINUTE', hour: 'HOUR', day: 'DAY' };
const UNIT_SECONDS: Record<TimeUnit, number> = { minute: 60, hour: 3600, day: 86400 };

function checkQuantile(q: number): number {
  if (!(q > 0 && q < 1)) throw new Error(`quantile ${q} is out of range: expected a number strictly between 0 and 1`);
  return q;
}

function wholeMinutes(minutes: number): number {
  if (!Number.isInteger(minutes) || minutes <= 0) throw new Error(`window of ${minutes} minutes: expected a whole number greater than 0`);
  return minutes;
}

const duckdb: Dialect = {
  name: 'duckdb',
  // Bucketing on epoch seconds is UTC like BigQuery's TIMESTAMP_TRUNC (date_trunc on a
  // TIMESTAMPTZ follows the session time zone) and ~3x faster on large tables.
  truncate: (c, unit) => `to_timestamp(floor(epoch(${c}) / ${UNIT_SECONDS[unit]}) * ${UNIT_SECONDS[unit]})`,
  quantile: (c, q) => `quantile_cont(${c}, ${checkQuantile(q)})`,
  // The parameter arrives as an ISO string; the explicit cast keeps the comparison on TIMESTAMPTZ.
  inRange: (c) => `${c} >= CAST(@since AS TIMESTAMPTZ)`,
  minutesAgo: (m) => `(now() - INTERVAL '${wholeMinutes(m)} minutes')`,
  minutesSince: (c) => `(epoch(now()) - epoch(${c})) / 60.0`,
};

const bigqueryBase: Omit<Dialect, 'name' | 'inRange'> = {
  truncate: (c, unit) => `TIMESTAMP_TRUNC(${c}, ${BQ_UNITS[unit]})`,
  // APPROX_QUANTILES with 100 buckets gives percentiles; exact enough for a dashboard and
  // far cheaper than an exact PERCENTILE_CONT analytic function on a big table.
  quantile: (c, q) => `APPROX_QUANTILES(${c}, 100)[OFFSET(${Math.round(checkQuantile(q) * 100)})]`,
  minutesAgo: (m) => `TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${wholeMinutes(m)} MINUTE)`,
  minutesSince: (c) => `TIMESTAMP_DIFF(CURRENT_TIMESTAMP(), ${c}, MILLISECOND) / 60000.0`,
};

const bigquery: Dialect = { name: 'bigquery', ...bigqueryBase, inRange: (c) => `${c} >= TIMESTAMP(@since)` };

const grafana: Dialect = { name: 'grafana', ...bigqueryBase, inRange: (c) => `$__timeFilter(${c})` };

export const dialects: Record<DialectName, Dialect> = { duckdb, bigquery, grafana };

export function dialect(name: DialectName): Dialect {
  const d = dialects[name as DialectName];
  if (!d) throw new Error(`unknown SQL dialect ${JSON.stringify(name)}; accepted: ${DIALECTS.join(', ')}`);
  return d;
}
