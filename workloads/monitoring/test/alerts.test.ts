import type * as gcp from '@pulumi/gcp';
import { Parser } from 'node-sql-parser';
import { PassThrough } from 'node:stream';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import { Row } from '../../core/warehouse/tables';
import { renderTables } from '../../core/warehouse/warehouse';
import { ALERT_IDS, ALERT_RULES, AlertStatus, DEFAULT_THRESHOLDS, evaluateAlerts, fmtWindow } from '../alerts';
import { cloudMonitoringAlerts } from '../cloud-alerts';
import { dialect } from '../dialect';
import { LOG_FIELDS } from '../log-fields';
import { RequestLog } from '../request-log';

const MIN = 60_000;

let n = 0;
function prediction(minutesAgo: number, opts: Partial<Row<'prediction_events'>> = {}): Row<'prediction_events'> {
  n++;
  return {
    ts: new Date(Date.now() - minutesAgo * MIN),
    request_id: `r${n}`,
    prediction_id: `p${n}`,
    source: 'dogapi',
    image_uri: `file:///x/${n}.jpg`,
    true_label: 'pug',
    predicted_label: 'pug',
    correct: true,
    confidence: 0.9,
    latency_ms: 20,
    model_version: 'v1',
    role: 'champion',
    top_k: '[]',
    ...opts,
  };
}

function pipelineRow(
  minutesAgo: number,
  status: 'succeeded' | 'failed',
  runId: string,
  step = '(run)',
  error: string | null = null,
): Row<'pipeline_runs'> {
  return { ts: new Date(Date.now() - minutesAgo * MIN), run_id: runId, step, status, duration_s: 10, error };
}

async function withWarehouse(fn: (w: DuckDbWarehouse) => Promise<void>): Promise<void> {
  const w = await DuckDbWarehouse.open(':memory:');
  try {
    await fn(w);
  } finally {
    await w.close();
  }
}

const byId = (list: AlertStatus[], id: string): AlertStatus => list.find((a) => a.id === id)!;

describe('alert rules', () => {
  it('one rule per alert id, each with a runbook', () => {
    expect(ALERT_RULES.map((r) => r.id)).toEqual([...ALERT_IDS]);
    for (const r of ALERT_RULES) expect(r.runbook.length).toBeGreaterThan(40);
  });

  it('an empty warehouse fires nothing and says why', async () => {
    await withWarehouse(async (w) => {
      const s = await evaluateAlerts(w);
      expect(s.map((a) => [a.id, a.state])).toEqual([
        ['accuracy_low', 'no_data'],
        ['error_rate_high', 'no_data'],
        ['latency_p95_high', 'no_data'],
        ['ingestion_stalled', 'no_data'],
        ['pipeline_failed', 'ok'],
      ]);
      expect(byId(s, 'error_rate_high').message).toBe('no request log is connected to the dashboard');
      expect(byId(s, 'ingestion_stalled').message).toBe('nothing has been ingested yet');
    });
  });
});

describe('accuracy below threshold', () => {
  it('fires on the recent window only, with the value', async () => {
    await withWarehouse(async (w) => {
      // 20 recent labelled champion predictions, half right; 40 older ones, all right (outside 60 min).
      const recent = Array.from({ length: 20 }, (_, i) =>
        prediction(5, { correct: i % 2 === 0, predicted_label: i % 2 === 0 ? 'pug' : 'beagle' }),
      );
      const old = Array.from({ length: 40 }, () => prediction(120));
      // Challenger and unlabelled rows do not count.
      const other = [
        prediction(5, { role: 'challenger', correct: false }),
        prediction(5, { correct: null, true_label: null, source: 'upload' }),
      ];
      await w.insert('prediction_events', [...recent, ...old, ...other]);
      const a = byId(await evaluateAlerts(w), 'accuracy_low');
      expect(a).toMatchObject({ state: 'firing', value: 0.5, samples: 20, threshold: DEFAULT_THRESHOLDS.accuracyMin, comparison: 'below' });
      expect(a.message).toBe('50.0% over the last 60 min (20 samples); fires below 60.0%');
      // Same data, lower threshold: ok.
      expect(byId(await evaluateAlerts(w, { thresholds: { accuracyMin: 0.4 } }), 'accuracy_low').state).toBe('ok');
    });
  });

  it('too few labelled predictions is no data, not ok', async () => {
    await withWarehouse(async (w) => {
      await w.insert(
        'prediction_events',
        Array.from({ length: 19 }, () => prediction(1, { correct: false, predicted_label: 'beagle' })),
      );
      const a = byId(await evaluateAlerts(w), 'accuracy_low');
      expect(a).toMatchObject({ state: 'no_data', value: 0, samples: 19 });
      expect(a.message).toBe('19 samples in the last 60 min (need 20)');
    });
  });
});

describe('p95 latency', () => {
  it('fires above the threshold and not below it', async () => {
    await withWarehouse(async (w) => {
      await w.insert('prediction_events', [
        ...Array.from({ length: 10 }, (_, i) => prediction(2, { latency_ms: 100 + i })),
        ...Array.from({ length: 2 }, () => prediction(2, { latency_ms: 2000 })),
        prediction(2, { role: 'challenger', latency_ms: 99_999 }),
      ]);
      const a = byId(await evaluateAlerts(w), 'latency_p95_high');
      expect(a.state).toBe('firing');
      expect(a.samples).toBe(12);
      expect(a.value).toBeGreaterThan(500);
      expect(byId(await evaluateAlerts(w, { thresholds: { latencyP95MaxMs: 5000 } }), 'latency_p95_high').state).toBe('ok');
    });
  });
});

describe('no ingestion', () => {
  it('fires when the last dog-API image is older than the silence limit', async () => {
    await withWarehouse(async (w) => {
      // An upload a minute ago is not ingestion; a shadow prediction is not either.
      await w.insert('prediction_events', [prediction(30), prediction(1, { source: 'upload' }), prediction(1, { role: 'challenger' })]);
      const a = byId(await evaluateAlerts(w), 'ingestion_stalled');
      expect(a.state).toBe('firing');
      expect(a.value).toBeGreaterThan(29.9);
      expect(a.value).toBeLessThan(31);
      expect(a.message).toMatch(/^last image ingested 30\.\d min ago; fires above 15\.0 min$/);
      await w.insert('prediction_events', [prediction(0.5, { role: 'none', model_version: null, predicted_label: null, correct: null })]);
      expect(byId(await evaluateAlerts(w), 'ingestion_stalled').state).toBe('ok');
    });
  });
});

describe('pipeline failure', () => {
  it('fires on a failed run in the window and names the latest failure', async () => {
    await withWarehouse(async (w) => {
      await w.insert('pipeline_runs', [
        pipelineRow(300, 'succeeded', 'run-a'),
        pipelineRow(121, 'failed', 'run-b', 'train', 'out of memory'),
        pipelineRow(120, 'failed', 'run-b', '(run)', 'step train failed'),
        pipelineRow(3000, 'failed', 'run-old', '(run)', 'ancient'),
      ]);
      const a = byId(await evaluateAlerts(w), 'pipeline_failed');
      expect(a).toMatchObject({ state: 'firing', value: 1 });
      expect(a.message).toBe('1 failed run in the last 24 h — latest: run-b / (run): step train failed; fires above 0');
      // A 60-minute window no longer sees it.
      expect(byId(await evaluateAlerts(w, { thresholds: { pipelineFailureWindowMinutes: 60 } }), 'pipeline_failed')).toMatchObject({
        state: 'ok',
        value: 0,
      });
    });
  });
});

describe('error rate from the request log', () => {
  const line = (status: number, time: number): string =>
    JSON.stringify({ level: 30, time, reqId: 'req-1', res: { statusCode: status }, responseTime: 3.2, msg: LOG_FIELDS.request.msg });

  it('counts fastify request-completed lines in the window', async () => {
    const now = Date.now();
    const log = new RequestLog(24 * 3600_000, () => now);
    for (let i = 0; i < 90; i++) log.observe(line(200, now - 60_000));
    for (let i = 0; i < 10; i++) log.observe(line(503, now - 60_000));
    for (let i = 0; i < 50; i++) log.observe(line(500, now - 60 * 60_000)); // outside 15 min
    log.observe('not json');
    log.observe('{"msg":"incoming request","req":{"url":"/predict"}}');
    log.observe('{broken json');
    expect(log.counts(15)).toEqual({ requests: 100, errors: 10 });
    await withWarehouse(async (w) => {
      const a = byId(await evaluateAlerts(w, { requestLog: log }), 'error_rate_high');
      expect(a).toMatchObject({ state: 'firing', value: 0.1, samples: 100 });
      expect(byId(await evaluateAlerts(w, { requestLog: log, thresholds: { errorRateMax: 0.2 } }), 'error_rate_high').state).toBe('ok');
      const quiet = new RequestLog(24 * 3600_000, () => now);
      for (let i = 0; i < 5; i++) quiet.record(now, 500);
      expect(byId(await evaluateAlerts(w, { requestLog: quiet }), 'error_rate_high')).toMatchObject({ state: 'no_data', samples: 5 });
    });
  });

  it('follows a stream of log lines (a child process stdout)', async () => {
    const log = new RequestLog();
    const stream = new PassThrough();
    log.follow(stream);
    stream.write(line(200, Date.now()) + '\n' + line(502, Date.now()) + '\n{"msg":"incoming request"}\n');
    stream.end();
    await new Promise((r) => setImmediate(r));
    expect(log.counts(5)).toEqual({ requests: 2, errors: 1 });
  });

  it('drops entries older than it keeps', () => {
    let now = 1_000_000_000;
    const log = new RequestLog(10 * 60_000, () => now);
    log.record(now, 500);
    now += 11 * 60_000;
    log.record(now, 200);
    expect(log.counts(60)).toEqual({ requests: 1, errors: 0 });
  });
});

describe('thresholds', () => {
  it('are validated like the config', async () => {
    await withWarehouse(async (w) => {
      await expect(evaluateAlerts(w, { thresholds: { accuracyMin: 2 } })).rejects.toThrow(/between 0 and 1/);
    });
  });

  it('windows read naturally', () => {
    expect(fmtWindow(15)).toBe('15 min');
    expect(fmtWindow(1440)).toBe('24 h');
  });
});

describe('Cloud Monitoring rendering', () => {
  const cloud = cloudMonitoringAlerts({
    metricPrefix: 'cv_dev_',
    inferenceService: 'cv-dev-inference',
    displayNamePrefix: 'Creature Vision (dev)',
  });

  it('is plain JSON and fits the Pulumi resource args', () => {
    expect(JSON.parse(JSON.stringify(cloud))).toEqual(cloud);
    // Compile-time check (npm run typecheck): the specs spread into the Pulumi args as they are.
    const metricArgs: gcp.logging.MetricArgs[] = cloud.metrics.map((m) => ({ ...m }));
    const policyArgs: gcp.monitoring.AlertPolicyArgs[] = cloud.policies.map((p) => ({ ...p.args, notificationChannels: [] }));
    expect(metricArgs).toHaveLength(8);
    expect(policyArgs).toHaveLength(ALERT_RULES.length);
  });

  it('names unique metrics with the stack prefix, scoped to the inference service', () => {
    const names = cloud.metrics.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const m of cloud.metrics) {
      expect(m.name).toMatch(/^cv_dev_[a-z_]+$/);
      if (!m.name.startsWith('cv_dev_pipeline_'))
        expect(m.filter).toContain('resource.type="cloud_run_revision" AND resource.labels.service_name="cv-dev-inference"');
    }
    const latency = cloud.metrics.find((m) => m.name === 'cv_dev_prediction_latency')!;
    expect(latency).toMatchObject({
      valueExtractor: 'EXTRACT(jsonPayload.latency_ms)',
      metricDescriptor: { valueType: 'DISTRIBUTION', metricKind: 'DELTA' },
    });
    expect(cloud.metrics.find((m) => m.name === 'cv_dev_predictions_correct')!.filter).toBe(
      'resource.type="cloud_run_revision" AND resource.labels.service_name="cv-dev-inference" AND jsonPayload.event="prediction" AND jsonPayload.role="champion" AND jsonPayload.correct=true',
    );
    expect(cloud.metrics.find((m) => m.name === 'cv_dev_http_errors')!.filter).toContain(
      'jsonPayload.msg="request completed" AND jsonPayload.res.statusCode>=500',
    );
  });

  it('renders each rule with its threshold and window, reading only metrics it declares', () => {
    const names = new Set(cloud.metrics.map((m) => m.name));
    for (const p of cloud.policies) {
      for (const m of p.metricNames) expect(names.has(m)).toBe(true);
      const filters = p.args.conditions.flatMap(
        (c) =>
          [c.conditionThreshold?.filter, c.conditionThreshold?.denominatorFilter, c.conditionAbsent?.filter].filter(Boolean) as string[],
      );
      expect(filters.length).toBeGreaterThan(0);
      for (const f of filters) {
        const used = /logging\.googleapis\.com\/user\/([a-z_]+)/.exec(f)![1];
        expect(p.metricNames).toContain(used);
      }
      expect(p.args.displayName).toMatch(/^Creature Vision \(dev\): /);
      expect(p.args.documentation.content).toBe(ALERT_RULES.find((r) => r.id === p.id)!.runbook);
    }
    const acc = cloud.policies.find((p) => p.id === 'accuracy_low')!.args.conditions[0].conditionThreshold!;
    expect(acc).toMatchObject({
      comparison: 'COMPARISON_LT',
      thresholdValue: DEFAULT_THRESHOLDS.accuracyMin,
      filter: 'metric.type="logging.googleapis.com/user/cv_dev_predictions_correct" AND resource.type="cloud_run_revision"',
      denominatorFilter: 'metric.type="logging.googleapis.com/user/cv_dev_predictions_labelled" AND resource.type="cloud_run_revision"',
      aggregations: [{ alignmentPeriod: '3600s', perSeriesAligner: 'ALIGN_SUM', crossSeriesReducer: 'REDUCE_SUM' }],
    });
    const stalled = cloud.policies.find((p) => p.id === 'ingestion_stalled')!.args.conditions[0];
    expect(stalled.conditionThreshold).toBeUndefined();
    expect(stalled.conditionAbsent).toMatchObject({ duration: `${DEFAULT_THRESHOLDS.ingestionSilenceMinutes * 60}s` });
    const pipe = cloud.policies.find((p) => p.id === 'pipeline_failed')!.args.conditions.map((c) => c.conditionThreshold!);
    expect(pipe).toHaveLength(2);
    for (const c of pipe)
      expect(c).toMatchObject({ comparison: 'COMPARISON_GT', thresholdValue: 0, aggregations: [{ alignmentPeriod: '86400s' }] });
    expect(cloud.policies.find((p) => p.id === 'latency_p95_high')!.args).toMatchObject({ severity: 'WARNING' });
  });

  it('every condition names one monitored resource type: the one its metric counts logs of', () => {
    const resourceOf = (filter: string) => [...filter.matchAll(/resource\.type="([^"]+)"/g)].map((m) => m[1]);
    const metrics = new Map(cloud.metrics.map((m) => [m.name, m]));
    for (const p of cloud.policies) {
      for (const c of p.args.conditions) {
        const filters = [c.conditionThreshold?.filter, c.conditionThreshold?.denominatorFilter, c.conditionAbsent?.filter].filter(
          Boolean,
        ) as string[];
        for (const f of filters) {
          const metric = metrics.get(/logging\.googleapis\.com\/user\/([a-z_]+)/.exec(f)![1])!;
          expect([p.id, f, resourceOf(f)]).toEqual([p.id, f, resourceOf(metric.filter)]);
          expect([p.id, f, resourceOf(f).length]).toEqual([p.id, f, 1]);
        }
      }
    }
  });

  it('follows threshold overrides and rejects a bad prefix', () => {
    const c = cloudMonitoringAlerts({ metricPrefix: 'cv_', thresholds: { latencyP95MaxMs: 250, latencyWindowMinutes: 5 } });
    const lat = c.policies.find((p) => p.id === 'latency_p95_high')!.args.conditions[0].conditionThreshold!;
    expect(lat).toMatchObject({ thresholdValue: 250, aggregations: [{ alignmentPeriod: '300s' }] });
    expect(c.metrics.find((m) => m.name === 'cv_predictions_correct')!.filter).not.toContain('service_name');
    expect(() => cloudMonitoringAlerts({ metricPrefix: 'cv-dev' })).toThrow(/metricPrefix "cv-dev" is invalid/);
  });
});

describe('alert SQL on BigQuery', () => {
  it('parses as BigQuery SQL and uses no DuckDB-only functions', () => {
    const parser = new Parser();
    for (const r of ALERT_RULES) {
      if (r.local.source !== 'warehouse') continue;
      const sql = renderTables(r.local.sql(dialect('bigquery'), DEFAULT_THRESHOLDS), (t) => `\`my-project.creature_vision.${t}\``);
      expect(sql).not.toMatch(/epoch\(|now\(\)|INTERVAL '/);
      expect(() => parser.astify(sql, { database: 'bigquery' })).not.toThrow();
    }
  });

  it('dialects reject what they cannot render', () => {
    expect(() => dialect('oracle' as 'duckdb')).toThrow(/unknown SQL dialect "oracle"; accepted: duckdb, bigquery, grafana/);
    expect(() => dialect('duckdb').quantile('x', 1.5)).toThrow(/strictly between 0 and 1/);
    expect(() => dialect('bigquery').minutesAgo(0)).toThrow(/whole number greater than 0/);
  });
});
