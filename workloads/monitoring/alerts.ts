import { monitoringSchema, WorkloadConfig } from '../core/config/schema';
import type { Value, Warehouse } from '../core/warehouse/warehouse';
import { Dialect, dialect as dialectNamed } from './dialect';
import type { Unit } from './panels';
import type { RequestLog } from './request-log';

/**
 * Alert rules, defined once. Each rule has
 *  - a local evaluation (SQL over the warehouse, or the request log for the error rate),
 *    shown as a banner on the local dashboard;
 *  - a cloud rendering (see ./cloud-alerts.ts): log-based metrics over the services'
 *    structured logs and a Cloud Monitoring alert policy with the same threshold and window.
 */

export type AlertThresholds = WorkloadConfig['monitoring']['alerts'];
export const DEFAULT_THRESHOLDS: AlertThresholds = monitoringSchema.parse({}).alerts;

export const ALERT_IDS = ['accuracy_low', 'error_rate_high', 'latency_p95_high', 'ingestion_stalled', 'pipeline_failed'] as const;
export type AlertId = (typeof ALERT_IDS)[number];

export type Severity = 'critical' | 'warning';
export type AlertState = 'firing' | 'ok' | 'no_data';

/** Fewest champion predictions in the window for the p95 to mean something. */
export const LATENCY_MIN_SAMPLES = 10;

/** The local evaluation: SQL returning one row `{value, samples, detail?}`, or the request log. */
export type LocalEvaluation = { source: 'warehouse'; sql(d: Dialect, t: AlertThresholds): string } | { source: 'request-log' };

export interface AlertRule {
  id: AlertId;
  title: string;
  severity: Severity;
  unit: Unit;
  /** Fires when the value is above / below the threshold. */
  comparison: 'above' | 'below';
  threshold(t: AlertThresholds): number;
  windowMinutes(t: AlertThresholds): number;
  /** Fewer samples than this in the window means "no data", not "ok" or "firing". */
  minSamples(t: AlertThresholds): number;
  /** What the alert means and what to do, in words (also the Cloud Monitoring documentation). */
  runbook: string;
  local: LocalEvaluation;
}

const accuracy = 'AVG(CASE WHEN correct THEN 1.0 ELSE 0.0 END)';

export const ALERT_RULES: readonly AlertRule[] = [
  {
    id: 'accuracy_low',
    title: 'Champion accuracy below threshold',
    severity: 'critical',
    unit: 'ratio',
    comparison: 'below',
    threshold: (t) => t.accuracyMin,
    windowMinutes: (t) => t.accuracyWindowMinutes,
    minSamples: (t) => t.accuracyMinSamples,
    runbook:
      'The production model is wrong more often than allowed on images whose breed is known. Check the per-breed accuracy and ' +
      'confusion panels for a drifting breed; the retraining trigger should start a run on drift; roll back if a recent promotion caused it.',
    local: {
      source: 'warehouse',
      sql: (d, t) => `
SELECT ${accuracy} AS value, COUNT(*) AS samples
FROM {{prediction_events}}
WHERE role = 'champion' AND correct IS NOT NULL AND ts >= ${d.minutesAgo(t.accuracyWindowMinutes)}`,
    },
  },
  {
    id: 'error_rate_high',
    title: 'Inference error rate (5xx) high',
    severity: 'critical',
    unit: 'ratio',
    comparison: 'above',
    threshold: (t) => t.errorRateMax,
    windowMinutes: (t) => t.errorRateWindowMinutes,
    minSamples: (t) => t.errorRateMinRequests,
    runbook:
      'The inference service answers too many requests with a server error. Read its logs for the failing route; ' +
      'check that a model is loaded (/readyz) and that the warehouse and buckets are reachable.',
    local: { source: 'request-log' },
  },
  {
    id: 'latency_p95_high',
    title: 'Model latency p95 high',
    severity: 'warning',
    unit: 'ms',
    comparison: 'above',
    threshold: (t) => t.latencyP95MaxMs,
    windowMinutes: (t) => t.latencyWindowMinutes,
    minSamples: () => LATENCY_MIN_SAMPLES,
    runbook:
      'Decode + predict takes longer than allowed for 5% of images. Check the TensorFlow.js backend the service logged at start ' +
      '(tfjs-node expected in the container), CPU limits and concurrency, and whether a larger model was promoted.',
    local: {
      source: 'warehouse',
      sql: (d, t) => `
SELECT ${d.quantile('latency_ms', 0.95)} AS value, COUNT(*) AS samples
FROM {{prediction_events}}
WHERE role = 'champion' AND ts >= ${d.minutesAgo(t.latencyWindowMinutes)}`,
    },
  },
  {
    id: 'ingestion_stalled',
    title: 'No ingestion',
    severity: 'warning',
    unit: 'min',
    comparison: 'above',
    threshold: (t) => t.ingestionSilenceMinutes,
    windowMinutes: (t) => t.ingestionSilenceMinutes,
    minSamples: () => 1,
    runbook:
      'No image has been ingested from the dog image API for longer than allowed, so no new labelled data arrives. ' +
      'Check the ingestion scheduler job, the dog API and the inference service logs.',
    local: {
      // Value: minutes since the last ingested image. Samples: images ever ingested.
      source: 'warehouse',
      sql: (d) => `
SELECT ${d.minutesSince('MAX(ts)')} AS value, COUNT(*) AS samples
FROM {{prediction_events}}
WHERE source = 'dogapi' AND role <> 'challenger'`,
    },
  },
  {
    id: 'pipeline_failed',
    title: 'Pipeline run failed',
    severity: 'critical',
    unit: 'count',
    comparison: 'above',
    threshold: () => 0,
    windowMinutes: (t) => t.pipelineFailureWindowMinutes,
    minSamples: () => 0,
    runbook:
      'A continual-learning pipeline run failed, so no new model was trained or evaluated. Read the failing step and its error ' +
      'in the pipeline runs panel (locally) or the Vertex AI Pipelines console; rerun once fixed.',
    local: {
      // Value: failed runs in the window. Detail: the latest failure's step and message.
      source: 'warehouse',
      sql: (d, t) => `
SELECT COUNT(DISTINCT run_id) AS value, COUNT(*) AS samples,
  MAX_BY(CONCAT(run_id, ' / ', step, ': ', COALESCE(error, 'no message')), ts) AS detail
FROM {{pipeline_runs}}
WHERE status = 'failed' AND ts >= ${d.minutesAgo(t.pipelineFailureWindowMinutes)}`,
    },
  },
];

export interface AlertStatus {
  id: AlertId;
  title: string;
  severity: Severity;
  state: AlertState;
  value: number | null;
  threshold: number;
  comparison: 'above' | 'below';
  unit: Unit;
  windowMinutes: number;
  samples: number;
  /** One line for the banner. */
  message: string;
  runbook: string;
}

export interface EvaluateOptions {
  thresholds?: Partial<AlertThresholds>;
  /** Local error-rate source; without it the error-rate alert reports no data. */
  requestLog?: RequestLog;
  dialect?: 'duckdb' | 'bigquery';
}

/** Evaluates every rule now. A rule whose evaluation throws reports `no_data` with the error. */
export async function evaluateAlerts(warehouse: Warehouse, options: EvaluateOptions = {}): Promise<AlertStatus[]> {
  const t = resolveThresholds(options.thresholds);
  const d = dialectNamed(options.dialect ?? 'duckdb');
  const out: AlertStatus[] = [];
  for (const rule of ALERT_RULES) {
    let value: number | null = null;
    let samples = 0;
    let detail: string | null = null;
    let failure: string | null = null;
    try {
      if (rule.local.source === 'warehouse') {
        const rows = await warehouse.query(rule.local.sql(d, t).trim());
        const row = rows[0] ?? {};
        value = num(row.value);
        samples = num(row.samples) ?? 0;
        detail = typeof row.detail === 'string' ? row.detail : null;
      } else if (options.requestLog) {
        const c = options.requestLog.counts(rule.windowMinutes(t));
        samples = c.requests;
        value = c.requests > 0 ? c.errors / c.requests : null;
      } else {
        failure = 'no request log is connected to the dashboard';
      }
    } catch (err) {
      failure = `evaluation failed: ${(err as Error).message}`;
    }
    out.push(judge(rule, t, value, samples, detail, failure));
  }
  return out;
}

export function resolveThresholds(partial: Partial<AlertThresholds> = {}): AlertThresholds {
  return monitoringSchema.parse({ alerts: { ...DEFAULT_THRESHOLDS, ...partial } }).alerts;
}

function judge(
  rule: AlertRule,
  t: AlertThresholds,
  value: number | null,
  samples: number,
  detail: string | null,
  failure: string | null,
): AlertStatus {
  const threshold = rule.threshold(t);
  const windowMinutes = rule.windowMinutes(t);
  const base = {
    id: rule.id,
    title: rule.title,
    severity: rule.severity,
    threshold,
    comparison: rule.comparison,
    unit: rule.unit,
    windowMinutes,
    samples,
    value,
    runbook: rule.runbook,
  };
  const limit = `${rule.comparison} ${fmt(threshold, rule.unit)}`;
  if (failure) return { ...base, state: 'no_data', message: failure };
  if (rule.id === 'ingestion_stalled' && value === null) return { ...base, state: 'no_data', message: 'nothing has been ingested yet' };
  if (value === null || samples < rule.minSamples(t)) {
    return {
      ...base,
      state: 'no_data',
      message: `${samples} sample${samples === 1 ? '' : 's'} in the last ${fmtWindow(windowMinutes)} (need ${rule.minSamples(t)})`,
    };
  }
  const firing = rule.comparison === 'above' ? value > threshold : value < threshold;
  const what =
    rule.id === 'ingestion_stalled'
      ? `last image ingested ${fmt(value, 'min')} ago`
      : rule.id === 'pipeline_failed'
        ? `${value} failed run${value === 1 ? '' : 's'} in the last ${fmtWindow(windowMinutes)}${detail ? ` — latest: ${detail}` : ''}`
        : `${fmt(value, rule.unit)} over the last ${fmtWindow(windowMinutes)} (${samples} samples)`;
  return { ...base, state: firing ? 'firing' : 'ok', message: `${what}; fires ${limit}` };
}

function num(v: Value | undefined): number | null {
  if (v === null || v === undefined) return null;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}

export function fmt(v: number, unit: Unit): string {
  switch (unit) {
    case 'ratio':
      return `${(v * 100).toFixed(1)}%`;
    case 'ms':
      return `${v.toFixed(0)} ms`;
    case 's':
      return `${v.toFixed(1)} s`;
    case 'min':
      return `${v.toFixed(1)} min`;
    case 'count':
      return Number.isInteger(v) ? String(v) : v.toFixed(1);
  }
}

/** `90 min`, `24 h`. */
export function fmtWindow(minutes: number): string {
  return minutes >= 120 && minutes % 60 === 0 ? `${minutes / 60} h` : `${minutes} min`;
}
