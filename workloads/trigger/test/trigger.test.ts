import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import type { DataLake } from '../../core/storage/data-lake';
import { checkTrigger } from '../check';
import type { TriggerThresholds } from '../decide';
import { MODEL_FILES, modelKeys } from '../../core/layout';
import { movePointer } from '../../core/model/registry';
import { writeJson } from '../../core/storage/object-store';
import { writeEvaluation } from '../../evaluation/records';
import { smallIntake, addDataset, addLabels, addPredictions, promote, tempLake } from './helpers';

/** The trigger's conditions and logged decisions on a real DuckDB warehouse and a local data lake. */
const thresholds: TriggerThresholds = {
  minNewLabelled: 20,
  driftMargin: 0.1,
  driftMinPredictions: 30,
  driftWindowMinutes: 60,
  maxIntervalHours: 48,
};
/** Preprocessing's rules, with every breed learnable from its first photo (these tests label one breed). */
const intake = smallIntake();
const now = new Date('2026-11-23T12:00:00.000Z');
const hoursAgo = (h: number): Date => new Date(now.getTime() - h * 3_600_000);

describe('trigger on the warehouse and data lake', () => {
  let lake: DataLake;
  let cleanup: () => Promise<void>;
  let warehouse: DuckDbWarehouse;
  beforeEach(async () => {
    ({ lake, cleanup } = await tempLake());
    warehouse = await DuckDbWarehouse.open(':memory:');
  });
  afterEach(async () => {
    await warehouse.close();
    await cleanup();
  });
  const check = (opts: { runId?: string; force?: boolean } = {}) => checkTrigger({ lake, warehouse, thresholds, intake, now, ...opts });
  const decisions = () => warehouse.query('SELECT * FROM {{trigger_decisions}} ORDER BY ts, decision_id');

  it('first run: waits for enough labelled data, then fires, logging every decision with its inputs', async () => {
    await addLabels(lake, 19, hoursAgo(1));
    const waiting = await check({ runId: 'run-a' });
    expect(waiting).toMatchObject({ fire: false, condition: 'none' });
    await addLabels(lake, 1, hoursAgo(0.5));
    const fired = await checkTrigger({ lake, warehouse, thresholds, now: new Date(now.getTime() + 1000), runId: 'run-b' });
    expect(fired).toMatchObject({ fire: true, condition: 'first_run', reused: false });

    const rows = await decisions();
    expect(rows).toHaveLength(2);
    expect(rows.map((r) => [r.fired, r.new_labelled, r.pipeline_run_id])).toEqual([
      [false, 19, null],
      [true, 20, 'run-b'],
    ]);
    const inputs = JSON.parse(String(rows[1].inputs));
    expect(inputs).toMatchObject({ newLabelled: 20, lastDataset: null, condition: 'first_run', thresholds: { minNewLabelled: 20 } });
  });

  it('drift: a promotion whose model_events row a crash left out is reconciled from the registry history (issue 14)', async () => {
    await writeJson(lake.models, modelKeys.file('m1', MODEL_FILES.complete), { version: 'm1' });
    await writeEvaluation(lake.models, {
      runId: 'r1',
      evaluatedAt: hoursAgo(3).toISOString(),
      datasetVersion: 'v1',
      challenger: { version: 'm1', metrics: { top1: 0.9 } },
      champion: null,
      shadow: null,
      decision: 'promote',
      reason: 'promote: first model',
      checks: [],
      gate: {},
    });
    // The pointer moved (and its history object was written); the process died before the row.
    await movePointer(
      lake.models,
      'production',
      {
        version: 'm1',
        previousVersion: null,
        movedAt: hoursAgo(3).toISOString(),
        event: 'promotion',
        reason: 'first',
        eventId: 'promotion-m1-r1',
        runId: 'r1',
      },
      '0',
    );
    await addDataset(lake, 'v20261123T030000Z-aaaa', hoursAgo(4));
    await addPredictions(warehouse, 'm1', 20, 20, hoursAgo(0.5));
    const d = await check();
    expect(d.inputs.baselineAccuracy).toBe(0.9);
    expect(d.reason).toMatch(/drift: champion m1 accuracy 50\.0% over 40 recent predictions vs baseline 90\.0%/);
  });

  it('new data: counts only labels given after the last dataset version', async () => {
    await addLabels(lake, 50, hoursAgo(10));
    await addDataset(lake, 'v20261123T030000Z-aaaa', hoursAgo(9));
    await addLabels(lake, 19, hoursAgo(2));
    expect(await check()).toMatchObject({ fire: false });
    await addLabels(lake, 1, hoursAgo(1));
    const d = await check();
    expect(d).toMatchObject({ fire: true, condition: 'new_data' });
    expect(d.inputs.newLabelled).toBe(20);
    expect(d.inputs.lastDataset?.version).toBe('v20261123T030000Z-aaaa');
    expect((await decisions()).map((r) => r.new_labelled).sort()).toEqual([19, 20]);
  });

  it('uses the newest dataset version and ignores versions without a manifest', async () => {
    await addDataset(lake, 'v20261120T000000Z-old1', hoursAgo(80));
    await addDataset(lake, 'v20261123T100000Z-new1', hoursAgo(2));
    await lake.datasets.write('versions/v20261123T113000Z-part/train/train-00000-of-00001.tfrecord', 'partial');
    const d = await check();
    expect(d.inputs.lastDataset?.version).toBe('v20261123T100000Z-new1');
    expect(d.inputs.hoursSinceLast).toBeCloseTo(2, 5);
  });

  it("drift: fires when the champion's recent accuracy falls below its promotion baseline by the margin", async () => {
    await addDataset(lake, 'v20261123T100000Z-d001', hoursAgo(2));
    await promote(lake, warehouse, 'm1', 0.9, hoursAgo(2));
    await addLabels(lake, 5, hoursAgo(1)); // some new data to retrain on (fewer than the new-data threshold)
    await addPredictions(warehouse, 'm1', 40, 2, hoursAgo(3)); // outside the 60 min window
    await addPredictions(warehouse, 'm1', 25, 5, hoursAgo(0.5)); // 83% over 30: within the margin
    expect(await check()).toMatchObject({ fire: false });
    await addPredictions(warehouse, 'm1', 10, 10, hoursAgo(0.25)); // now 35/50 = 70%
    const d = await check();
    expect(d).toMatchObject({ fire: true, condition: 'drift' });
    expect(d.inputs).toMatchObject({ champion: 'm1', baselineAccuracy: 0.9, recentPredictions: 50 });
    expect(d.inputs.recentAccuracy).toBeCloseTo(0.7, 10);
    const last = (await decisions()).find((r) => r.fired)!;
    expect([last.recent_predictions, last.baseline_accuracy]).toEqual([50, 0.9]);
    expect(last.recent_accuracy).toBeCloseTo(0.7, 10);
  });

  it('drift: needs enough predictions', async () => {
    await addDataset(lake, 'v20261123T100000Z-d002', hoursAgo(2));
    await promote(lake, warehouse, 'm1', 0.9, hoursAgo(2));
    await addPredictions(warehouse, 'm1', 0, 29, hoursAgo(0.2));
    const d = await check();
    expect(d.fire).toBe(false);
    expect(d.reason).toContain('29 champion predictions with known truth in the last 60 min < 30');
  });

  it('counts only trusted photos: users’ labels wait for a trust policy', async () => {
    await addDataset(lake, 'v20261123T030000Z-aaaa', hoursAgo(9));
    await addLabels(lake, 30, hoursAgo(1), { source: 'upload', trust: 'untrusted', label: 'pug' });
    const d = await check();
    expect(d).toMatchObject({ fire: false, condition: 'none' });
    expect(d.inputs).toMatchObject({ newLabelled: 0, pending: 30 });
    expect(d.reason).toContain("0 new labelled examples < 20 (30 users' photos awaiting trust)");
  });

  it('new breed: fires as soon as enough trusted photos of a breed the last version lacks have arrived', async () => {
    await addDataset(lake, 'v20261123T030000Z-aaaa', hoursAgo(9));
    const rules = { ...intake, preprocessing: { ...intake.preprocessing, minClassExamples: 3 } };
    await addLabels(lake, 2, hoursAgo(1), { label: 'pug' });
    const waiting = await checkTrigger({ lake, warehouse, thresholds, intake: rules, now });
    expect(waiting).toMatchObject({ fire: false });
    expect(waiting.reason).toContain('breeds still too small to learn: pug 2');
    await addLabels(lake, 1, hoursAgo(0.5), { label: 'pug' });
    const fired = await checkTrigger({ lake, warehouse, thresholds, intake: rules, now });
    expect(fired).toMatchObject({ fire: true, condition: 'new_class' });
    expect(fired.reason).toMatch(/^new_class: new breed\(s\) ready to learn: pug/);
  });

  it('max interval: fires when the last dataset version is old enough', async () => {
    await addDataset(lake, 'v20261121T000000Z-i001', hoursAgo(47));
    await addDataset(lake, 'v20261121T000000Z-i000', hoursAgo(49)); // older name sorts first: still 47 h
    await addLabels(lake, 5, hoursAgo(1));
    expect(await check()).toMatchObject({ fire: false });
    await lake.datasets.delete('versions/v20261121T000000Z-i001/manifest.json');
    expect(await check()).toMatchObject({ fire: true, condition: 'max_interval' });
  });

  it('reuses the decision the trigger service logged for a run instead of deciding again', async () => {
    await addLabels(lake, 25, hoursAgo(1));
    const first = await check({ runId: 'run-x' });
    expect(first.fire).toBe(true);
    const again = await check({ runId: 'run-x' });
    expect(again).toMatchObject({ fire: true, reused: true, decisionId: first.decisionId, reason: first.reason, condition: 'first_run' });
    expect(again.inputs.newLabelled).toBe(25);
    expect(await decisions()).toHaveLength(1);
    // A different run, or a run whose decision did not fire, decides afresh.
    await check({ runId: 'run-y' });
    expect(await decisions()).toHaveLength(2);
  });

  it('a veto turns a firing decision into a logged non-firing one', async () => {
    await addLabels(lake, 25, hoursAgo(1));
    const d = await checkTrigger({
      lake,
      warehouse,
      thresholds,
      now,
      runId: 'run-v',
      veto: async () => 'run run-old is still in progress',
    });
    expect(d.fire).toBe(false);
    expect(d.reason).toMatch(/^run run-old is still in progress \(otherwise: first run: /);
    expect((await decisions())[0]).toMatchObject({ fired: false, pipeline_run_id: null });
  });
});
