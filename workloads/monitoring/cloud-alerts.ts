import { ALERT_RULES, AlertId, AlertThresholds, resolveThresholds } from './alerts';
import { jsonPayload, LOG_FIELDS } from './log-fields';

/**
 * The alert rules of ./alerts.ts rendered for Cloud Monitoring, as plain JSON-able objects
 * the Pulumi monitoring component spreads into `gcp.logging.Metric` and
 * `gcp.monitoring.AlertPolicy` args (it adds project, notification channels and
 * `dependsOn` the metrics a policy names). The same thresholds and windows as the local
 * banner; the values come from log-based metrics over the services' structured logs
 * (fields in ./log-fields.ts) instead of the warehouse, so alerting keeps working when
 * BigQuery is slow or the streaming insert backs up.
 */

export interface LogMetricSpec {
  /** Metric name (unique in the project); the alert filter uses `logging.googleapis.com/user/<name>`. */
  name: string;
  description: string;
  filter: string;
  metricDescriptor: { metricKind: 'DELTA'; valueType: 'INT64' | 'DISTRIBUTION'; unit: string; displayName: string };
  valueExtractor?: string;
  bucketOptions?: { exponentialBuckets: { numFiniteBuckets: number; growthFactor: number; scale: number } };
}

export interface Aggregation {
  alignmentPeriod: string;
  perSeriesAligner: string;
  crossSeriesReducer: string;
}

export interface AlertConditionSpec {
  displayName: string;
  conditionThreshold?: {
    filter: string;
    comparison: 'COMPARISON_GT' | 'COMPARISON_LT';
    thresholdValue: number;
    duration: string;
    aggregations: Aggregation[];
    denominatorFilter?: string;
    denominatorAggregations?: Aggregation[];
    trigger: { count: number };
    evaluationMissingData: 'EVALUATION_MISSING_DATA_INACTIVE' | 'EVALUATION_MISSING_DATA_ACTIVE' | 'EVALUATION_MISSING_DATA_NO_OP';
  };
  conditionAbsent?: { filter: string; duration: string; aggregations: Aggregation[]; trigger: { count: number } };
}

export interface AlertPolicyArgsSpec {
  displayName: string;
  combiner: 'OR';
  severity: 'CRITICAL' | 'WARNING';
  enabled: boolean;
  conditions: AlertConditionSpec[];
  documentation: { content: string; mimeType: 'text/markdown'; subject: string };
  alertStrategy: { autoClose: string };
  userLabels: Record<string, string>;
}

export interface AlertPolicySpec {
  id: AlertId;
  /** Names of the log-based metrics the policy reads: create them first (`dependsOn`). */
  metricNames: string[];
  args: AlertPolicyArgsSpec;
}

export interface CloudAlertOptions {
  /** Prefix for metric names, unique per stack within a project (letters, digits, `_`), e.g. `cv_dev_`. */
  metricPrefix: string;
  /** Cloud Run service name of the inference service; limits its metrics to that service. */
  inferenceService?: string;
  /** Shown before each policy's title, e.g. `Creature Vision (dev)`. */
  displayNamePrefix?: string;
  thresholds?: Partial<AlertThresholds>;
}

export interface CloudAlerts {
  metrics: LogMetricSpec[];
  policies: AlertPolicySpec[];
}

/** Monitored resource types of the logs the metrics count (a metric's series carry its log entries' resource). */
export const SERVICE_RESOURCE = 'cloud_run_revision';
export const PIPELINE_STEP_RESOURCE = 'ml_job';
export const PIPELINE_JOB_RESOURCE = 'aiplatform.googleapis.com/PipelineJob';

/** Longest alignment period used; Cloud Monitoring rejects longer ones for alerting. */
const MAX_ALIGNMENT_S = 24 * 60 * 60;

const q = (s: string): string => JSON.stringify(s);

export function cloudMonitoringAlerts(options: CloudAlertOptions): CloudAlerts {
  const { metricPrefix } = options;
  if (!/^[A-Za-z0-9_]{0,60}$/.test(metricPrefix)) {
    throw new Error(`metricPrefix ${q(metricPrefix)} is invalid: expected up to 60 letters, digits or underscores, e.g. "cv_dev_"`);
  }
  const t = resolveThresholds(options.thresholds);
  const title = (s: string): string => (options.displayNamePrefix ? `${options.displayNamePrefix}: ${s}` : s);
  const name = (base: string): string => `${metricPrefix}${base}`;

  const run = [
    `resource.type=${q(SERVICE_RESOURCE)}`,
    ...(options.inferenceService ? [`resource.labels.service_name=${q(options.inferenceService)}`] : []),
  ];
  const P = LOG_FIELDS.prediction;
  const R = LOG_FIELDS.request;
  const S = LOG_FIELDS.pipelineStep;
  const champion = [...run, `${jsonPayload('event')}=${q(P.event)}`, `${jsonPayload(P.role)}="champion"`];

  const metrics: LogMetricSpec[] = [
    counter(name('predictions_labelled'), 'Champion predictions on images whose breed is known', [
      ...champion,
      `(${jsonPayload(P.correct)}=true OR ${jsonPayload(P.correct)}=false)`,
    ]),
    counter(name('predictions_correct'), 'Champion predictions that were right', [...champion, `${jsonPayload(P.correct)}=true`]),
    {
      name: name('prediction_latency'),
      description: 'Champion model latency (decode + predict) in milliseconds',
      filter: champion.join(' AND '),
      metricDescriptor: { metricKind: 'DELTA', valueType: 'DISTRIBUTION', unit: 'ms', displayName: 'Prediction latency' },
      valueExtractor: `EXTRACT(${jsonPayload(P.latencyMs)})`,
      // 1 ms · 1.3^k covers 1 ms .. ~36 s in 40 buckets: fine enough for a p95 threshold.
      bucketOptions: { exponentialBuckets: { numFiniteBuckets: 40, growthFactor: 1.3, scale: 1 } },
    },
    counter(name('images_ingested'), 'Images ingested from the dog image API', [
      ...run,
      `${jsonPayload('event')}=${q(P.event)}`,
      `${jsonPayload(P.source)}="dogapi"`,
      `${jsonPayload(P.role)}!="challenger"`,
    ]),
    counter(name('http_requests'), 'Requests the inference service finished', [...run, `${jsonPayload('msg')}=${q(R.msg)}`]),
    counter(name('http_errors'), 'Requests the inference service answered with a 5xx status', [
      ...run,
      `${jsonPayload('msg')}=${q(R.msg)}`,
      `${jsonPayload(R.statusCode)}>=500`,
    ]),
    // One metric per log resource type: an alert condition reads one monitored resource type.
    // Step containers run as Vertex AI custom jobs (`ml_job`) and log their own failure.
    counter(name('pipeline_step_failures'), 'Pipeline steps that failed (the step container logs it)', [
      `resource.type=${q(PIPELINE_STEP_RESOURCE)}`,
      `${jsonPayload('event')}=${q(S.event)}`,
      `${jsonPayload(S.status)}="failed"`,
    ]),
    // Vertex AI logs a failed pipeline job (including a step that died without logging) at ERROR.
    counter(name('pipeline_job_failures'), 'Vertex AI pipeline jobs that failed', [
      `resource.type=${q(PIPELINE_JOB_RESOURCE)}`,
      'severity>=ERROR',
    ]),
  ];

  // Cloud Monitoring refuses a condition whose filter names no monitored resource type.
  const metricFilter = (m: string, resource: string): string =>
    `metric.type="logging.googleapis.com/user/${m}" AND resource.type=${q(resource)}`;
  const sumOver = (minutes: number): Aggregation[] => [
    { alignmentPeriod: `${Math.min(minutes * 60, MAX_ALIGNMENT_S)}s`, perSeriesAligner: 'ALIGN_SUM', crossSeriesReducer: 'REDUCE_SUM' },
  ];

  /** A ratio of two of the service's counters against a threshold, over a window. */
  const ratio = (r: {
    numerator: string;
    denominator: string;
    displayName: string;
    windowMinutes: number;
    comparison: 'COMPARISON_GT' | 'COMPARISON_LT';
    threshold: number;
  }): { metricNames: string[]; conditions: AlertConditionSpec[] } => ({
    metricNames: [r.numerator, r.denominator],
    conditions: [
      {
        displayName: r.displayName,
        conditionThreshold: {
          filter: metricFilter(r.numerator, SERVICE_RESOURCE),
          denominatorFilter: metricFilter(r.denominator, SERVICE_RESOURCE),
          aggregations: sumOver(r.windowMinutes),
          denominatorAggregations: sumOver(r.windowMinutes),
          comparison: r.comparison,
          thresholdValue: r.threshold,
          duration: '0s',
          trigger: { count: 1 },
          evaluationMissingData: 'EVALUATION_MISSING_DATA_INACTIVE',
        },
      },
    ],
  });

  const conditions: Record<AlertId, { metricNames: string[]; conditions: AlertConditionSpec[] }> = {
    accuracy_low: ratio({
      numerator: name('predictions_correct'),
      denominator: name('predictions_labelled'),
      displayName: `champion accuracy < ${t.accuracyMin} over ${t.accuracyWindowMinutes} min`,
      windowMinutes: t.accuracyWindowMinutes,
      comparison: 'COMPARISON_LT',
      threshold: t.accuracyMin,
    }),
    error_rate_high: ratio({
      numerator: name('http_errors'),
      denominator: name('http_requests'),
      displayName: `5xx share > ${t.errorRateMax} over ${t.errorRateWindowMinutes} min`,
      windowMinutes: t.errorRateWindowMinutes,
      comparison: 'COMPARISON_GT',
      threshold: t.errorRateMax,
    }),
    latency_p95_high: {
      metricNames: [name('prediction_latency')],
      conditions: [
        {
          displayName: `p95 latency > ${t.latencyP95MaxMs} ms over ${t.latencyWindowMinutes} min`,
          conditionThreshold: {
            filter: metricFilter(name('prediction_latency'), SERVICE_RESOURCE),
            aggregations: [
              {
                alignmentPeriod: `${Math.min(t.latencyWindowMinutes * 60, MAX_ALIGNMENT_S)}s`,
                perSeriesAligner: 'ALIGN_DELTA',
                // Merge the revisions' distributions, then take the 95th percentile of the merged one.
                crossSeriesReducer: 'REDUCE_PERCENTILE_95',
              },
            ],
            comparison: 'COMPARISON_GT',
            thresholdValue: t.latencyP95MaxMs,
            duration: '0s',
            trigger: { count: 1 },
            evaluationMissingData: 'EVALUATION_MISSING_DATA_INACTIVE',
          },
        },
      ],
    },
    ingestion_stalled: {
      metricNames: [name('images_ingested')],
      conditions: [
        {
          displayName: `no image ingested for ${t.ingestionSilenceMinutes} min`,
          // A threshold never fires on a series that stops existing; absence is the right condition.
          conditionAbsent: {
            filter: metricFilter(name('images_ingested'), SERVICE_RESOURCE),
            duration: `${Math.max(t.ingestionSilenceMinutes, 2) * 60}s`,
            aggregations: sumOver(1),
            trigger: { count: 1 },
          },
        },
      ],
    },
    pipeline_failed: {
      metricNames: [name('pipeline_step_failures'), name('pipeline_job_failures')],
      conditions: (
        [
          ['step', name('pipeline_step_failures'), PIPELINE_STEP_RESOURCE],
          ['job', name('pipeline_job_failures'), PIPELINE_JOB_RESOURCE],
        ] as const
      ).map(([what, metric, resource]) => ({
        displayName: `pipeline ${what} failures > 0 over ${t.pipelineFailureWindowMinutes} min`,
        conditionThreshold: {
          filter: metricFilter(metric, resource),
          aggregations: sumOver(t.pipelineFailureWindowMinutes),
          comparison: 'COMPARISON_GT',
          thresholdValue: 0,
          duration: '0s',
          trigger: { count: 1 },
          evaluationMissingData: 'EVALUATION_MISSING_DATA_INACTIVE',
        },
      })),
    },
  };

  const policies = ALERT_RULES.map((rule): AlertPolicySpec => {
    const c = conditions[rule.id];
    return {
      id: rule.id,
      metricNames: c.metricNames,
      args: {
        displayName: title(rule.title),
        combiner: 'OR',
        severity: rule.severity === 'critical' ? 'CRITICAL' : 'WARNING',
        enabled: true,
        conditions: c.conditions,
        documentation: { content: rule.runbook, mimeType: 'text/markdown', subject: title(rule.title) },
        alertStrategy: { autoClose: '1800s' },
        userLabels: { app: 'creature-vision', alert: rule.id.replace(/_/g, '-') },
      },
    };
  });
  return { metrics, policies };
}

function counter(name: string, description: string, filter: string[]): LogMetricSpec {
  return {
    name,
    description,
    filter: filter.join(' AND '),
    metricDescriptor: { metricKind: 'DELTA', valueType: 'INT64', unit: '1', displayName: description },
  };
}
