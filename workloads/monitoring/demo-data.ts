import sharp from 'sharp';
import { MODEL_FILES, modelKeys, SPLITS } from '../core/layout';
import type { ObjectStore } from '../core/storage/object-store';
import { Row } from '../core/warehouse/tables';
import type { Warehouse } from '../core/warehouse/warehouse';

/**
 * A small, fully known history of the loop, for the tests (which check the panels' values
 * against numbers worked out by hand from these rows) and for `serve-dashboard --demo`.
 *
 * Four whole hours before the current hour (H-1 .. H2):
 *  - H-1: 3 images ingested without a model; dataset d1; model vA trained and promoted.
 *  - H0, H1: champion vA and shadow challenger vB on 10 labelled images each; dataset d2
 *    and model vB trained in H0; vB promoted at H1+45 min.
 *  - H2: champion vB on 11 labelled images + 2 uploads with feedback; model vC trained and
 *    rejected; a pipeline run fails.
 * Each row of the tables below is [true breed, champion prediction, challenger prediction?].
 */

export const DEMO_VERSIONS = { vA: 'v20261101T000000Z-aaaa', vB: 'v20261102T000000Z-bbbb', vC: 'v20261103T000000Z-cccc' };
export const DEMO_DATASETS = { d1: 'd20261101T000000Z-d001', d2: 'd20261102T000000Z-d002' };

type Triple = [string, string, string?];

export const DEMO_H0: Triple[] = [
  ['beagle', 'beagle', 'beagle'],
  ['beagle', 'beagle', 'beagle'],
  ['beagle', 'pug', 'beagle'],
  ['beagle', 'pug', 'pug'],
  ['pug', 'pug', 'pug'],
  ['pug', 'pug', 'pug'],
  ['siberian_husky', 'siberian_husky', 'siberian_husky'],
  ['siberian_husky', 'border_collie', 'siberian_husky'],
  ['border_collie', 'border_collie', 'border_collie'],
  ['border_collie', 'border_collie', 'siberian_husky'],
];
export const DEMO_H1: Triple[] = [
  ['beagle', 'beagle', 'beagle'],
  ['beagle', 'pug', 'beagle'],
  ['pug', 'beagle', 'pug'],
  ['pug', 'pug', 'pug'],
  ['siberian_husky', 'border_collie', 'siberian_husky'],
  ['siberian_husky', 'siberian_husky', 'siberian_husky'],
  ['border_collie', 'siberian_husky', 'border_collie'],
  ['border_collie', 'border_collie', 'border_collie'],
  ['beagle', 'beagle', 'beagle'],
  ['pug', 'pug', 'beagle'],
];
export const DEMO_H2: Triple[] = [
  ['beagle', 'beagle'],
  ['beagle', 'beagle'],
  ['pug', 'pug'],
  ['pug', 'pug'],
  ['siberian_husky', 'siberian_husky'],
  ['siberian_husky', 'siberian_husky'],
  ['border_collie', 'border_collie'],
  ['border_collie', 'siberian_husky'],
  ['beagle', 'beagle'],
  ['pug', 'pug'],
  ['pomeranian', 'pomeranian'],
];

const MIN = 60_000;
const HOUR = 60 * MIN;

export interface DemoTimes {
  /** Start of the first demo hour (H-1). */
  start: Date;
  /** Start of hours H-1, H0, H1, H2. */
  hours: [Date, Date, Date, Date];
}

/** The demo hours end before the hour `now` is in, so every row is in the past. */
export function demoTimes(now: Date = new Date()): DemoTimes {
  const current = Math.floor(now.getTime() / HOUR) * HOUR;
  const h = (k: number): Date => new Date(current - (4 - k) * HOUR);
  return { start: h(0), hours: [h(0), h(1), h(2), h(3)] };
}

export async function populateDemoWarehouse(w: Warehouse, now: Date = new Date()): Promise<DemoTimes> {
  const times = demoTimes(now);
  const [hm1, h0, h1, h2] = times.hours.map((d) => d.getTime());
  const at = (ms: number): Date => new Date(ms);
  const { vA, vB, vC } = DEMO_VERSIONS;
  const { d1, d2 } = DEMO_DATASETS;

  const predictions: Row<'prediction_events'>[] = [];
  let n = 0;
  const pred = (
    ts: number,
    role: 'champion' | 'challenger' | 'none',
    version: string | null,
    truth: string | null,
    predicted: string | null,
    latency: number,
    requestId: string,
    source: 'dogapi' | 'upload' = 'dogapi',
  ): void => {
    n++;
    predictions.push({
      ts: at(ts),
      request_id: requestId,
      prediction_id: `p${n}`,
      source,
      image_uri: `file:///demo/raw/images/img${n}.jpg`,
      true_label: truth,
      predicted_label: predicted,
      correct: truth !== null && predicted !== null ? truth === predicted : null,
      confidence: predicted === null ? null : 0.5 + ((n * 7) % 50) / 100,
      latency_ms: latency,
      model_version: version,
      role,
      top_k: JSON.stringify(predicted === null ? [] : [{ label: predicted, p: 0.9 }]),
    });
  };

  for (let i = 0; i < 3; i++) pred(hm1 + (1 + i) * MIN, 'none', null, 'beagle', null, 1, `r-none-${i}`);
  const hour = (start: number, rows: Triple[], champion: string, challenger: string | null, tag: string): void => {
    rows.forEach(([truth, c, s], i) => {
      const ts = start + (20 + i) * MIN;
      pred(ts, 'champion', champion, truth, c, 10 * (i + 1), `r-${tag}-${i}`);
      if (challenger && s) pred(ts, 'challenger', challenger, truth, s, 200, `r-${tag}-${i}`);
    });
  };
  hour(h0, DEMO_H0, vA, vB, 'h0');
  hour(h1, DEMO_H1, vA, vB, 'h1');
  hour(h2, DEMO_H2, vB, null, 'h2');
  // Two uploads (no known breed) with latencies continuing the H2 sequence: 120 and 130 ms.
  pred(h2 + 40 * MIN, 'champion', vB, null, 'pug', 120, 'r-up-0', 'upload');
  pred(h2 + 41 * MIN, 'champion', vB, null, 'beagle', 130, 'r-up-1', 'upload');
  await w.insert('prediction_events', predictions);

  await w.insert('feedback', [
    {
      ts: at(h2 + 42 * MIN),
      feedback_id: 'f1',
      prediction_id: predictions[predictions.length - 2].prediction_id,
      correct: true,
      label: 'pug',
      predicted_label: 'pug',
      model_version: vB,
    },
    {
      ts: at(h2 + 43 * MIN),
      feedback_id: 'f2',
      prediction_id: predictions[predictions.length - 1].prediction_id,
      correct: false,
      label: 'pomeranian',
      predicted_label: 'beagle',
      model_version: vB,
    },
  ]);

  const version = (
    ts: number,
    name: string,
    parent: string | null,
    examples: number,
    fresh: number,
    inherited: number,
    classes: number,
  ): Row<'dataset_versions'> => ({
    ts: at(ts),
    dataset_version: name,
    parent_version: parent,
    uri: `file:///demo/datasets/versions/${name}/`,
    num_examples: examples,
    num_train: Math.round(examples * 0.75),
    num_validation: Math.round(examples * 0.1),
    num_test: examples - Math.round(examples * 0.75) - Math.round(examples * 0.1),
    num_classes: classes,
    new_examples: fresh,
    replay_examples: 0,
    inherited_examples: inherited,
    pending_labels: parent ? 7 : 0,
    skipped: 0,
    run_id: null,
  });
  await w.insert('dataset_versions', [version(hm1 + 10 * MIN, d1, null, 100, 100, 0, 4), version(h0 + 5 * MIN, d2, d1, 160, 60, 100, 5)]);

  const dist: Row<'class_distribution'>[] = [];
  const classes = (ts: number, name: string, perLabel: Record<string, [number, number, number]>): void => {
    for (const [label, counts] of Object.entries(perLabel)) {
      SPLITS.forEach((split, k) => dist.push({ ts: at(ts), dataset_version: name, label, split, count: counts[k] }));
    }
  };
  classes(hm1 + 10 * MIN, d1, { beagle: [20, 3, 2], pug: [20, 3, 2], siberian_husky: [20, 3, 2], border_collie: [20, 3, 2] });
  classes(h0 + 5 * MIN, d2, {
    beagle: [30, 5, 5],
    pug: [30, 5, 5],
    siberian_husky: [22, 4, 4],
    border_collie: [22, 4, 4],
    pomeranian: [16, 2, 2],
  });
  await w.insert('class_distribution', dist);

  const run = (ts: number, id: string, model: string, dataset: string, parent: string | null, valAcc: number): Row<'training_runs'> => ({
    ts: at(ts),
    run_id: id,
    model_version: model,
    dataset_version: dataset,
    parent_model: parent,
    backbone: 'mobilenet_v2_035',
    hyperparameters: JSON.stringify({ epochs: 12, learningRate: 0.001 }),
    status: 'succeeded',
    epochs: 8,
    best_epoch: 6,
    val_accuracy: valAcc,
    val_loss: 1 - valAcc,
    duration_s: 95.5,
  });
  await w.insert('training_runs', [
    run(hm1 + 20 * MIN, 'train-1', vA, d1, null, 0.72),
    run(h0 + 15 * MIN, 'train-2', vB, d2, vA, 0.86),
    run(h2 + 20 * MIN, 'train-3', vC, d2, vB, 0.8),
  ]);

  const epochs: Row<'training_epochs'>[] = [];
  for (let e = 1; e <= 8; e++) {
    epochs.push({
      ts: at(h0 + (6 + e) * MIN),
      run_id: 'train-2',
      model_version: vB,
      epoch: e,
      phase: 'head',
      loss: 2 / e,
      accuracy: 0.5 + e * 0.05,
      val_loss: 2.2 / e,
      val_accuracy: 0.45 + e * 0.05,
      learning_rate: 0.001 * Math.cos((e / 8) * (Math.PI / 2)),
      duration_s: 10,
    });
  }
  await w.insert('training_epochs', epochs);

  const event = (
    ts: number,
    id: string,
    kind: Row<'model_events'>['event'],
    model: string,
    previous: string | null,
    reason: string,
  ): Row<'model_events'> => ({
    ts: at(ts),
    event_id: id,
    event: kind,
    model_version: model,
    previous_version: previous,
    dataset_version: null,
    reason,
    challenger_metrics: null,
    champion_metrics: null,
    run_id: null,
  });
  await w.insert('model_events', [
    event(hm1 + 25 * MIN, 'e1', 'registration', vA, null, 'trained on d1'),
    event(hm1 + 26 * MIN, 'e2', 'promotion', vA, null, 'first model: top-1 0.72 above the floor 0.30'),
    event(h0 + 16 * MIN, 'e3', 'registration', vB, vA, 'trained on d2; shadowing the champion'),
    event(h1 + 45 * MIN, 'e4', 'promotion', vB, vA, 'top-1 0.86 beats 0.72 by more than 0.005'),
    event(h2 + 20 * MIN, 'e5', 'registration', vC, vB, 'trained on d2'),
    {
      ...event(h2 + 25 * MIN, 'e6', 'rejection', vC, vB, 'not significantly better: +1.5 pt, 90% CI [-1.0 pt, +4.0 pt], p = 0.17'),
      eval_n: 240,
      effect: 0.015,
      effect_low: -0.01,
      effect_high: 0.04,
      p_value: 0.17,
      detectable_effect: 0.052,
      class_changes: JSON.stringify([{ label: 'pug', n: 24, challenger: 0.92, champion: 0.88, change: 0.04, isNew: false }]),
    },
  ]);

  const decision = (
    ts: number,
    id: string,
    fired: boolean,
    reason: string,
    recent: number | null,
    baseline: number | null,
  ): Row<'trigger_decisions'> => ({
    ts: at(ts),
    decision_id: id,
    fired,
    reason,
    new_labelled: 10,
    recent_predictions: recent === null ? 0 : 60,
    recent_accuracy: recent,
    baseline_accuracy: baseline,
    hours_since_last: 1,
    inputs: JSON.stringify({ minNewLabelled: 200 }),
    pipeline_run_id: fired ? `run-${id}` : null,
  });
  await w.insert('trigger_decisions', [
    decision(hm1 + 5 * MIN, 't1', true, 'enough new labelled data', null, null),
    decision(h0 + 1 * MIN, 't2', false, 'no condition met', 0.7, 0.72),
    decision(h0 + 2 * MIN, 't3', true, 'accuracy drift: 0.60 below 0.72 - 0.10', 0.6, 0.72),
    decision(h1 + 1 * MIN, 't4', false, 'no condition met', 0.65, 0.72),
    decision(h2 + 10 * MIN, 't5', true, 'maximum interval reached', 0.9, 0.86),
  ]);

  await w.insert('pipeline_runs', [
    { ts: at(hm1 + 30 * MIN), run_id: 'run-t1', step: '(run)', status: 'succeeded', duration_s: 300, error: null },
    { ts: at(h0 + 20 * MIN), run_id: 'run-t3', step: '(run)', status: 'succeeded', duration_s: 280, error: null },
    { ts: at(h2 + 26 * MIN), run_id: 'run-t5', step: '(run)', status: 'succeeded', duration_s: 250, error: null },
    { ts: at(h2 + 49 * MIN), run_id: 'run-t6', step: 'train', status: 'failed', duration_s: 12, error: 'out of memory' },
    { ts: at(h2 + 50 * MIN), run_id: 'run-t6', step: '(run)', status: 'failed', duration_s: 40, error: 'step train failed' },
  ]);
  return times;
}

/**
 * Demo model versions in a models store: vA (champion) and vB with training plots, vC
 * without plots, and the production pointer at vB. The PNGs are drawn from SVG with sharp
 * so the page has real images to link to.
 */
export async function populateDemoModels(models: ObjectStore): Promise<void> {
  const { vA, vB, vC } = DEMO_VERSIONS;
  for (const [version, top1] of [
    [vA, 0.72],
    [vB, 0.86],
  ] as const) {
    await models.write(modelKeys.file(version, MODEL_FILES.curves), await demoPlot(`training curves ${version}`, top1));
    await models.write(modelKeys.file(version, MODEL_FILES.confusion), await demoPlot(`confusion matrix ${version}`, top1));
    await models.write(modelKeys.file(version, MODEL_FILES.metrics), JSON.stringify({ top1 }));
    await models.write(modelKeys.file(version, MODEL_FILES.complete), JSON.stringify({ version }));
  }
  await models.write(modelKeys.file(vC, MODEL_FILES.metrics), JSON.stringify({ top1: 0.8 }));
  await models.write(modelKeys.file(vC, MODEL_FILES.complete), JSON.stringify({ version: vC }));
  await models.write(modelKeys.pointer('production'), JSON.stringify({ version: vB, previousVersion: vA }));
}

async function demoPlot(title: string, level: number): Promise<Buffer> {
  const points = Array.from({ length: 12 }, (_, i) => `${20 + i * 25},${(180 - level * 150 * (1 - Math.exp(-i / 3))).toFixed(1)}`).join(
    ' ',
  );
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="200"><rect width="320" height="200" fill="#fff"/>` +
    `<text x="10" y="18" font-family="sans-serif" font-size="12">${title.replace(/[<&>]/g, '')}</text>` +
    `<polyline points="${points}" fill="none" stroke="#2f6fde" stroke-width="3"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}
