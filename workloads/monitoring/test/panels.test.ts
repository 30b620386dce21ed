import { Parser } from 'node-sql-parser';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import { renderTables } from '../../core/warehouse/warehouse';
import type { QueryRow } from '../../core/warehouse/warehouse';
import { DEMO_DATASETS, DEMO_VERSIONS, DemoTimes, populateDemoWarehouse } from '../demo-data';
import { PANEL_KINDS, PANELS, panelById, panelColumns, panelSql, runPanel } from '../panels';

/**
 * Every panel's SQL on DuckDB over the demo history (demo-data.ts), checked against values
 * worked out by hand from those rows, plus the BigQuery renderings parsed as BigQuery SQL.
 */

const { vA, vB } = DEMO_VERSIONS;
const { d1, d2 } = DEMO_DATASETS;
const HOUR = 3600_000;

let w: DuckDbWarehouse;
let times: DemoTimes;
let hours: string[];
const all = new Map<string, QueryRow[]>();

beforeAll(async () => {
  w = await DuckDbWarehouse.open(':memory:');
  times = await populateDemoWarehouse(w, new Date());
  hours = times.hours.map((d) => d.toISOString());
  const since = new Date(times.start.getTime() - HOUR);
  for (const p of PANELS) all.set(p.id, await runPanel(w, p, since));
});
afterAll(async () => {
  await w.close();
});

const rows = (id: string): QueryRow[] => all.get(id)!;
const [HM1, H0, H1, H2] = [0, 1, 2, 3];

describe('panel definitions', () => {
  it('have unique ids, known kinds and the fields their kind needs', () => {
    expect(new Set(PANELS.map((p) => p.id)).size).toBe(PANELS.length);
    for (const p of PANELS) {
      expect(PANEL_KINDS).toContain(p.kind);
      if (p.kind === 'timeseries') expect(p.fields.time).toBeTruthy();
      if (p.kind === 'bar' || p.kind === 'heatmap') expect(p.fields.category).toBeTruthy();
      if (p.kind === 'heatmap') expect(p.fields.y).toBeTruthy();
      if (p.kind !== 'table') expect(p.fields.values.length).toBeGreaterThan(0);
    }
  });

  it('return exactly the columns their fields name', () => {
    for (const p of PANELS) {
      const r = rows(p.id);
      expect(r.length).toBeGreaterThan(0);
      for (const row of r) expect(Object.keys(row).sort()).toEqual(panelColumns(p).sort());
    }
  });

  it('rejects an unknown panel id with the known ids', () => {
    expect(() => panelById('nope')).toThrow(/unknown panel "nope"; panels are overview, /);
  });
});

describe('panel values on the demo history', () => {
  it('overview', () => {
    const [o] = rows('overview');
    expect(o.predictions).toBe(36); // 3 without a model + 10 + 10 + 11 labelled + 2 uploads
    expect(o.accuracy).toBeCloseTo(23 / 31, 10); // 7 + 6 + 10 right out of 31 labelled
    // Latencies of non-challenger rows: 1,1,1 and 10..100 in H0, H1 and H2, then 110, 120, 130 in H2: 36 values.
    const lat = [1, 1, 1, ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].flatMap((k) => [10 * k, 10 * k, 10 * k]), 110, 120, 130].sort((a, b) => a - b);
    const pos = 0.95 * (lat.length - 1);
    const p95 = lat[Math.floor(pos)] + (pos - Math.floor(pos)) * (lat[Math.ceil(pos)] - lat[Math.floor(pos)]);
    expect(p95).toBeCloseTo(112.5, 10);
    expect(o.latency_p95_ms).toBeCloseTo(p95, 6);
    expect(o.feedback).toBe(2);
    expect(o.dataset_versions).toBe(2);
    expect(o.promotions).toBe(2);
  });

  it('accuracy by model version per hour', () => {
    expect(rows('accuracy_by_version')).toEqual([
      { time: hours[H0], model_version: vA, accuracy: 0.7 },
      { time: hours[H0], model_version: vB, accuracy: 0.8 },
      { time: hours[H1], model_version: vA, accuracy: 0.6 },
      { time: hours[H1], model_version: vB, accuracy: 0.9 },
      { time: hours[H2], model_version: vB, accuracy: expect.closeTo(10 / 11, 10) },
    ]);
  });

  it('hourly volume and accuracy (no accuracy before the first model)', () => {
    expect(rows('volume_accuracy')).toEqual([
      { time: hours[HM1], predictions: 3, accuracy: null },
      { time: hours[H0], predictions: 10, accuracy: 0.7 },
      { time: hours[H1], predictions: 10, accuracy: 0.6 },
      { time: hours[H2], predictions: 13, accuracy: expect.closeTo(10 / 11, 10) },
    ]);
  });

  it('latency p50 / p95 of the champion (challenger latencies of 200 ms left out)', () => {
    expect(rows('latency')).toEqual([
      { time: hours[H0], p50_ms: 55, p95_ms: expect.closeTo(95.5, 6) },
      { time: hours[H1], p50_ms: 55, p95_ms: expect.closeTo(95.5, 6) },
      { time: hours[H2], p50_ms: 70, p95_ms: expect.closeTo(124, 6) },
    ]);
  });

  it('champion vs shadow challenger on the same requests', () => {
    expect(rows('champion_vs_challenger')).toEqual([
      { time: hours[H0], champion: 0.7, challenger: 0.8, pairs: 10 },
      { time: hours[H1], champion: 0.6, challenger: 0.9, pairs: 10 },
    ]);
  });

  it('per-breed champion accuracy, worst first', () => {
    expect(rows('per_class_accuracy')).toEqual([
      { label: 'border_collie', accuracy: expect.closeTo(4 / 6, 10), predictions: 6 },
      { label: 'siberian_husky', accuracy: expect.closeTo(4 / 6, 10), predictions: 6 },
      { label: 'beagle', accuracy: 0.7, predictions: 10 },
      { label: 'pug', accuracy: 0.875, predictions: 8 },
      { label: 'pomeranian', accuracy: 1, predictions: 1 },
    ]);
  });

  it('confusion among the most-confused breeds only (pomeranian, never confused, is left out)', () => {
    expect(rows('confusion')).toEqual([
      { true_label: 'beagle', predicted_label: 'beagle', predictions: 7 },
      { true_label: 'beagle', predicted_label: 'pug', predictions: 3 },
      { true_label: 'border_collie', predicted_label: 'border_collie', predictions: 4 },
      { true_label: 'border_collie', predicted_label: 'siberian_husky', predictions: 2 },
      { true_label: 'pug', predicted_label: 'beagle', predictions: 1 },
      { true_label: 'pug', predicted_label: 'pug', predictions: 7 },
      { true_label: 'siberian_husky', predicted_label: 'border_collie', predictions: 2 },
      { true_label: 'siberian_husky', predicted_label: 'siberian_husky', predictions: 4 },
    ]);
  });

  it('class distribution per dataset version (all splits summed)', () => {
    const r = rows('class_distribution');
    expect(r).toHaveLength(9);
    expect(r.filter((x) => x.dataset_version === d1).map((x) => [x.label, x.examples])).toEqual([
      ['beagle', 25],
      ['border_collie', 25],
      ['pug', 25],
      ['siberian_husky', 25],
    ]);
    expect(r.filter((x) => x.dataset_version === d2).map((x) => [x.label, x.examples])).toEqual([
      ['beagle', 40],
      ['border_collie', 30],
      ['pomeranian', 20],
      ['pug', 40],
      ['siberian_husky', 30],
    ]);
  });

  it('gate decisions with their evidence, newest first', () => {
    expect(
      rows('gate_decisions').map((x) => [x.event, x.eval_n, x.effect, x.effect_low, x.effect_high, x.p_value, x.detectable_effect]),
    ).toEqual([
      ['rejection', 240, 0.015, -0.01, 0.04, 0.17, 0.052],
      ['promotion', null, null, null, null, null, null],
      ['promotion', null, null, null, null, null, null],
    ]);
    expect(JSON.parse(String(rows('gate_decisions')[0].class_changes))).toEqual([
      { label: 'pug', n: 24, challenger: 0.92, champion: 0.88, change: 0.04, isNew: false },
    ]);
  });

  it('data growth per dataset version, oldest first', () => {
    expect(rows('data_growth')).toEqual([
      { dataset_version: d1, num_examples: 100, new_examples: 100, inherited_examples: 0, pending_labels: 0, num_classes: 4 },
      { dataset_version: d2, num_examples: 160, new_examples: 60, inherited_examples: 100, pending_labels: 7, num_classes: 5 },
    ]);
  });

  it('drift checks per minute, skipping checks without a champion', () => {
    const r = rows('drift');
    expect(r.map((x) => [x.recent_accuracy, x.baseline_accuracy])).toEqual([
      [0.7, 0.72],
      [0.6, 0.72],
      [0.65, 0.72],
      [0.9, 0.86],
    ]);
    expect(r[0].time).toBe(new Date(times.hours[H0].getTime() + 60_000).toISOString());
  });

  it('events: retraining started and every registry decision, newest first', () => {
    expect(rows('events').map((x) => [x.title, x.tags])).toEqual([
      [`rejection ${DEMO_VERSIONS.vC}`, 'rejection'],
      [`registration ${DEMO_VERSIONS.vC}`, 'registration'],
      ['retraining started', 'retraining'],
      [`promotion ${vB}`, 'promotion'],
      [`registration ${vB}`, 'registration'],
      ['retraining started', 'retraining'],
      [`promotion ${vA}`, 'promotion'],
      [`registration ${vA}`, 'registration'],
      ['retraining started', 'retraining'],
    ]);
    expect(rows('events')[3]).toMatchObject({
      time: new Date(times.hours[H1].getTime() + 45 * 60_000).toISOString(),
      text: 'top-1 0.86 beats 0.72 by more than 0.005',
    });
  });

  it('training and pipeline runs, newest first; only whole-run rows of the pipeline', () => {
    expect(rows('training_runs').map((x) => [x.model_version, x.val_accuracy])).toEqual([
      [DEMO_VERSIONS.vC, 0.8],
      [vB, 0.86],
      [vA, 0.72],
    ]);
    expect(rows('pipeline_runs').map((x) => [x.run_id, x.status, x.error])).toEqual([
      ['run-t6', 'failed', 'step train failed'],
      ['run-t5', 'succeeded', null],
      ['run-t3', 'succeeded', null],
      ['run-t1', 'succeeded', null],
    ]);
  });
});

describe('the time range', () => {
  it('@since drops everything before it', async () => {
    const since = times.hours[H1];
    expect((await runPanel(w, panelById('volume_accuracy'), since)).map((r) => r.time)).toEqual([hours[H1], hours[H2]]);
    expect((await runPanel(w, panelById('overview'), since))[0]).toMatchObject({ predictions: 23, dataset_versions: 0, promotions: 1 });
    expect(await runPanel(w, panelById('confusion'), new Date(Date.now() + HOUR))).toEqual([]);
  });

  it('rejects an invalid start', async () => {
    await expect(runPanel(w, panelById('latency'), new Date('nope'))).rejects.toThrow(/not a valid date/);
  });
});

describe('dialects', () => {
  const parser = new Parser();
  const qualify = (sql: string): string => renderTables(sql, (t) => `\`my-project.creature_vision.${t}\``);

  it('BigQuery renderings parse as BigQuery SQL and use no DuckDB-only functions', () => {
    for (const p of PANELS) {
      const sql = panelSql(p, 'bigquery');
      expect(sql).not.toMatch(/date_trunc|quantile_cont|epoch\(|::/);
      expect(() => parser.astify(qualify(sql).replace(/@since/g, "'2026-01-01T00:00:00Z'"), { database: 'bigquery' })).not.toThrow();
    }
  });

  it('Grafana renderings use $__timeFilter instead of @since and parse once the macro is expanded', () => {
    for (const p of PANELS) {
      const sql = panelSql(p, 'grafana');
      expect(sql).not.toContain('@since');
      expect(sql).toContain('$__timeFilter(');
      // The plugin expands the macro to `col BETWEEN TIMESTAMP(..) AND TIMESTAMP(..)`.
      const expanded = sql.replace(
        /\$__timeFilter\(([^)]+)\)/g,
        "$1 BETWEEN TIMESTAMP('2026-01-01 00:00:00') AND TIMESTAMP('2026-01-02 00:00:00')",
      );
      expect(() => parser.astify(qualify(expanded), { database: 'bigquery' })).not.toThrow();
    }
  });

  it('DuckDB renderings use no BigQuery-only functions', () => {
    for (const p of PANELS) expect(panelSql(p, 'duckdb')).not.toMatch(/TIMESTAMP_TRUNC|APPROX_QUANTILES|TIMESTAMP_SUB|`/);
  });
});
