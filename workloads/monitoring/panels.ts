import { Dialect, DialectName, dialect as dialectNamed } from './dialect';
import type { QueryRow, Warehouse } from '../core/warehouse/warehouse';

/**
 * The dashboard's panels, defined once. The local dashboard page (ECharts over the local
 * warehouse) and the Grafana dashboard (grafana-bigquery-datasource over BigQuery) are both
 * generated from this list, so the two always show the same numbers from the same SQL.
 *
 * SQL references tables as `{{table}}` and limits time with `d.inRange(column)`, which is
 * `@since` locally and Grafana's `$__timeFilter` in Grafana. Columns named in `fields` are
 * the contract between a panel's SQL and its renderers (tests hold the SQL to it).
 */

export const PANEL_KINDS = ['timeseries', 'bar', 'table', 'stat', 'heatmap'] as const;
export type PanelKind = (typeof PANEL_KINDS)[number];

/** How a number is shown. `ratio` is a 0..1 fraction shown as a percentage. */
export type Unit = 'ratio' | 'ms' | 's' | 'min' | 'count';

export interface PanelFields {
  /** Timestamp column (timeseries x axis). */
  time?: string;
  /** Category column (bar x axis, heatmap x axis, table key). */
  category?: string;
  /** Heatmap y axis column. */
  y?: string;
  /** Long-format series column: one line / bar group per distinct value. */
  series?: string;
  /** Numeric columns that are drawn. */
  values: string[];
  /** Columns shown in tooltips and tables but not drawn. */
  extra?: string[];
}

export interface PanelDef {
  id: string;
  title: string;
  description: string;
  kind: PanelKind;
  fields: PanelFields;
  /** Unit per value column; columns not listed are plain numbers. */
  units?: Record<string, Unit>;
  /** Bars of different series stacked on each other. */
  stacked?: boolean;
  /** Half or full dashboard width. */
  width: 'half' | 'full';
  sql(d: Dialect): string;
}

/** 1.0 / 0.0 per labelled prediction, NULL when the truth is unknown (AVG skips NULLs). */
const correctness = (col = 'correct'): string => `CASE WHEN ${col} IS NULL THEN NULL WHEN ${col} THEN 1.0 ELSE 0.0 END`;

/** How many of the most-confused breeds the confusion panel shows. */
export const CONFUSION_TOP_BREEDS = 6;
/** Rows kept in the event and run tables. */
export const TABLE_LIMIT = 100;

export const PANELS: readonly PanelDef[] = [
  {
    id: 'overview',
    title: 'Overview',
    description:
      'Predictions served, champion accuracy on labelled images, p95 latency, feedback received and dataset versions in the range.',
    kind: 'stat',
    width: 'full',
    fields: { values: ['predictions', 'accuracy', 'latency_p95_ms', 'feedback', 'dataset_versions', 'promotions'] },
    units: {
      predictions: 'count',
      accuracy: 'ratio',
      latency_p95_ms: 'ms',
      feedback: 'count',
      dataset_versions: 'count',
      promotions: 'count',
    },
    sql: (d) => `
SELECT
  COUNT(*) AS predictions,
  AVG(${correctness()}) AS accuracy,
  ${d.quantile('latency_ms', 0.95)} AS latency_p95_ms,
  (SELECT COUNT(*) FROM {{feedback}} WHERE ${d.inRange('ts')}) AS feedback,
  (SELECT COUNT(*) FROM {{dataset_versions}} WHERE ${d.inRange('ts')}) AS dataset_versions,
  (SELECT COUNT(*) FROM {{model_events}} WHERE event = 'promotion' AND ${d.inRange('ts')}) AS promotions
FROM {{prediction_events}}
WHERE role <> 'challenger' AND ${d.inRange('ts')}`,
  },
  {
    id: 'accuracy_by_version',
    title: 'Accuracy by model version',
    description: 'Hourly top-1 accuracy of every model version on images whose breed is known (champion and shadow challenger).',
    kind: 'timeseries',
    width: 'half',
    fields: { time: 'time', series: 'model_version', values: ['accuracy'] },
    units: { accuracy: 'ratio' },
    sql: (d) => `
SELECT ${d.truncate('ts', 'hour')} AS time, model_version, AVG(${correctness()}) AS accuracy
FROM {{prediction_events}}
WHERE correct IS NOT NULL AND model_version IS NOT NULL AND ${d.inRange('ts')}
GROUP BY 1, 2
ORDER BY 1, 2`,
  },
  {
    id: 'volume_accuracy',
    title: 'Hourly predictions and accuracy',
    description: 'Images classified per hour (champion, or ingested without a model) and the champion accuracy on labelled ones.',
    kind: 'timeseries',
    width: 'half',
    fields: { time: 'time', values: ['predictions', 'accuracy'] },
    units: { predictions: 'count', accuracy: 'ratio' },
    sql: (d) => `
SELECT ${d.truncate('ts', 'hour')} AS time, COUNT(*) AS predictions, AVG(${correctness()}) AS accuracy
FROM {{prediction_events}}
WHERE role <> 'challenger' AND ${d.inRange('ts')}
GROUP BY 1
ORDER BY 1`,
  },
  {
    id: 'latency',
    title: 'Model latency p50 / p95',
    description: 'Champion decode + predict latency per hour, 50th and 95th percentiles.',
    kind: 'timeseries',
    width: 'half',
    fields: { time: 'time', values: ['p50_ms', 'p95_ms'] },
    units: { p50_ms: 'ms', p95_ms: 'ms' },
    sql: (d) => `
SELECT ${d.truncate('ts', 'hour')} AS time, ${d.quantile('latency_ms', 0.5)} AS p50_ms, ${d.quantile('latency_ms', 0.95)} AS p95_ms
FROM {{prediction_events}}
WHERE role = 'champion' AND ${d.inRange('ts')}
GROUP BY 1
ORDER BY 1`,
  },
  {
    id: 'champion_vs_challenger',
    title: 'Champion vs shadow challenger',
    description: 'Hourly accuracy of the champion and the shadow challenger on the same requests (joined by request id).',
    kind: 'timeseries',
    width: 'half',
    fields: { time: 'time', values: ['champion', 'challenger'], extra: ['pairs'] },
    units: { champion: 'ratio', challenger: 'ratio', pairs: 'count' },
    sql: (d) => `
SELECT ${d.truncate('c.ts', 'hour')} AS time,
  AVG(${correctness('c.correct')}) AS champion,
  AVG(${correctness('s.correct')}) AS challenger,
  COUNT(*) AS pairs
FROM {{prediction_events}} AS c
JOIN {{prediction_events}} AS s ON s.request_id = c.request_id AND s.role = 'challenger'
WHERE c.role = 'champion' AND c.correct IS NOT NULL AND s.correct IS NOT NULL AND ${d.inRange('c.ts')} AND ${d.inRange('s.ts')}
GROUP BY 1
ORDER BY 1`,
  },
  {
    id: 'per_class_accuracy',
    title: 'Per-breed accuracy (champion)',
    description: 'Champion top-1 accuracy per true breed, worst first.',
    kind: 'bar',
    width: 'half',
    fields: { category: 'label', values: ['accuracy'], extra: ['predictions'] },
    units: { accuracy: 'ratio', predictions: 'count' },
    sql: (d) => `
SELECT true_label AS label, AVG(${correctness()}) AS accuracy, COUNT(*) AS predictions
FROM {{prediction_events}}
WHERE role = 'champion' AND correct IS NOT NULL AND true_label IS NOT NULL AND ${d.inRange('ts')}
GROUP BY 1
ORDER BY 2, 1`,
  },
  {
    id: 'confusion',
    title: 'Confusion between the most-confused breeds',
    description: `Champion predictions (true breed × predicted breed) among the ${CONFUSION_TOP_BREEDS} breeds involved in the most mistakes.`,
    kind: 'heatmap',
    width: 'half',
    fields: { category: 'predicted_label', y: 'true_label', values: ['predictions'] },
    units: { predictions: 'count' },
    sql: (d) => `
WITH mistakes AS (
  SELECT true_label, predicted_label
  FROM {{prediction_events}}
  WHERE role = 'champion' AND correct = FALSE AND ${d.inRange('ts')}
),
most_confused AS (
  SELECT breed FROM (
    SELECT true_label AS breed FROM mistakes
    UNION ALL
    SELECT predicted_label AS breed FROM mistakes
  ) AS involved
  GROUP BY breed
  ORDER BY COUNT(*) DESC, breed
  LIMIT ${CONFUSION_TOP_BREEDS}
)
SELECT true_label, predicted_label, COUNT(*) AS predictions
FROM {{prediction_events}}
WHERE role = 'champion' AND correct IS NOT NULL AND ${d.inRange('ts')}
  AND true_label IN (SELECT breed FROM most_confused)
  AND predicted_label IN (SELECT breed FROM most_confused)
GROUP BY 1, 2
ORDER BY 1, 2`,
  },
  {
    id: 'class_distribution',
    title: 'Class distribution per dataset version',
    description: 'Examples per breed (all splits) in each dataset version.',
    kind: 'bar',
    width: 'half',
    stacked: false,
    fields: { category: 'label', series: 'dataset_version', values: ['examples'] },
    units: { examples: 'count' },
    sql: (d) => `
SELECT label, dataset_version, SUM(count) AS examples
FROM {{class_distribution}}
WHERE ${d.inRange('ts')}
GROUP BY 1, 2
ORDER BY 2, 1`,
  },
  {
    id: 'data_growth',
    title: 'Data growth per dataset version',
    description:
      "Examples in each dataset version (a snapshot of all trusted data): how many were new, how many it holds by reference to its parent, and how many users' photos were left out awaiting trust.",
    kind: 'bar',
    width: 'half',
    fields: {
      category: 'dataset_version',
      values: ['num_examples', 'new_examples', 'inherited_examples', 'pending_labels'],
      extra: ['num_classes'],
    },
    units: { num_examples: 'count', new_examples: 'count', inherited_examples: 'count', pending_labels: 'count', num_classes: 'count' },
    sql: (d) => `
SELECT dataset_version, num_examples, new_examples, COALESCE(inherited_examples, 0) AS inherited_examples,
       COALESCE(pending_labels, 0) AS pending_labels, num_classes
FROM {{dataset_versions}}
WHERE ${d.inRange('ts')}
ORDER BY ts, dataset_version`,
  },
  {
    id: 'drift',
    title: 'Drift check: recent vs baseline accuracy',
    description: "Each retraining check's recent champion accuracy next to the champion's accuracy at promotion (per minute).",
    kind: 'timeseries',
    width: 'half',
    fields: { time: 'time', values: ['recent_accuracy', 'baseline_accuracy'] },
    units: { recent_accuracy: 'ratio', baseline_accuracy: 'ratio' },
    sql: (d) => `
SELECT ${d.truncate('ts', 'minute')} AS time, AVG(recent_accuracy) AS recent_accuracy, AVG(baseline_accuracy) AS baseline_accuracy
FROM {{trigger_decisions}}
WHERE recent_accuracy IS NOT NULL AND ${d.inRange('ts')}
GROUP BY 1
ORDER BY 1`,
  },
  {
    id: 'pipeline_runs',
    title: 'Pipeline runs',
    description: 'Whole pipeline runs with their outcome, wall time and failure message, newest first.',
    kind: 'table',
    width: 'half',
    fields: { time: 'time', category: 'run_id', values: [], extra: ['status', 'duration_s', 'error'] },
    units: { duration_s: 's' },
    sql: (d) => `
SELECT ts AS time, run_id, status, duration_s, error
FROM {{pipeline_runs}}
WHERE step = '(run)' AND ${d.inRange('ts')}
ORDER BY ts DESC, run_id
LIMIT ${TABLE_LIMIT}`,
  },
  {
    id: 'events',
    title: 'Retraining decisions and promotions',
    description:
      'Retraining started by the trigger and every registry decision (registration, promotion, rejection, rollback), newest first. Also drawn as annotations on the time charts.',
    kind: 'table',
    width: 'full',
    fields: { time: 'time', category: 'title', values: [], extra: ['text', 'tags'] },
    sql: (d) => `
SELECT time, title, text, tags FROM (
  SELECT ts AS time, CONCAT(event, ' ', model_version) AS title, reason AS text, event AS tags
  FROM {{model_events}}
  WHERE ${d.inRange('ts')}
  UNION ALL
  SELECT ts AS time, 'retraining started' AS title, reason AS text, 'retraining' AS tags
  FROM {{trigger_decisions}}
  WHERE fired AND ${d.inRange('ts')}
) AS events
ORDER BY time DESC, title
LIMIT ${TABLE_LIMIT}`,
  },
  {
    id: 'gate_decisions',
    title: 'Gate decisions: effect, interval, evidence',
    description:
      "Each promotion and rejection with what it rests on: evaluation photos (n), the challenger's top-1 gain over the champion and its interval, the one-sided exact McNemar p-value, the smallest gain that evaluation detects with 95% power, and the per-breed recall changes (JSON), newest first.",
    kind: 'table',
    width: 'full',
    fields: {
      time: 'time',
      category: 'model_version',
      values: [],
      extra: ['event', 'eval_n', 'effect', 'effect_low', 'effect_high', 'p_value', 'detectable_effect', 'class_changes'],
    },
    units: { eval_n: 'count', effect: 'ratio', effect_low: 'ratio', effect_high: 'ratio', detectable_effect: 'ratio' },
    sql: (d) => `
SELECT ts AS time, model_version, event, eval_n, effect, effect_low, effect_high, p_value, detectable_effect, class_changes
FROM {{model_events}}
WHERE event IN ('promotion', 'rejection') AND ${d.inRange('ts')}
ORDER BY ts DESC, model_version
LIMIT ${TABLE_LIMIT}`,
  },
  {
    id: 'training_runs',
    title: 'Training runs',
    description: 'Each training run with its dataset, best validation accuracy, epochs and wall time, newest first.',
    kind: 'table',
    width: 'full',
    fields: {
      time: 'time',
      category: 'model_version',
      values: [],
      extra: ['dataset_version', 'status', 'epochs', 'val_accuracy', 'duration_s'],
    },
    units: { val_accuracy: 'ratio', duration_s: 's', epochs: 'count' },
    sql: (d) => `
SELECT ts AS time, model_version, dataset_version, status, epochs, val_accuracy, duration_s
FROM {{training_runs}}
WHERE ${d.inRange('ts')}
ORDER BY ts DESC, model_version
LIMIT ${TABLE_LIMIT}`,
  },
];

/** The panel whose rows are drawn as annotations (Grafana) / event markers (local charts). */
export const ANNOTATION_PANEL_ID = 'events';

export function panelById(id: string): PanelDef {
  const p = PANELS.find((x) => x.id === id);
  if (!p) throw new Error(`unknown panel ${JSON.stringify(id)}; panels are ${PANELS.map((x) => x.id).join(', ')}`);
  return p;
}

/** All columns a panel's SQL must return, in a stable order. */
export function panelColumns(p: PanelDef): string[] {
  const f = p.fields;
  const cols = [f.time, f.category, f.y, f.series, ...f.values, ...(f.extra ?? [])].filter((c): c is string => typeof c === 'string');
  return [...new Set(cols)];
}

export function panelSql(p: PanelDef, d: DialectName | Dialect): string {
  const dl = typeof d === 'string' ? dialectNamed(d) : d;
  return p.sql(dl).trim();
}

/** Runs a panel's SQL on a warehouse over `[since, now]`. */
export async function runPanel(warehouse: Warehouse, p: PanelDef, since: Date, d: 'duckdb' | 'bigquery' = 'duckdb'): Promise<QueryRow[]> {
  if (isNaN(since.getTime())) throw new Error('the time range start is not a valid date');
  return warehouse.query(panelSql(p, d), { since: since.toISOString() });
}
