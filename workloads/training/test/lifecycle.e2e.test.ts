import * as path from 'node:path';
import { createLogger } from '../../core/log';
import { decodeRgb } from '../../core/images/normalize-image';
import { loadClassifier } from '../../core/model/classifier';
import { readPointer } from '../../core/model/registry';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import { evaluateAndGate } from '../../evaluation/evaluate';
import { promote, rollback } from '../../evaluation/promote';
import { trainModel } from '../train';
import { photos, splitPhotos, tempRoot, TempRoot, writeDatasetVersion } from './fixtures';

/**
 * The model lifecycle on real photos and the real backbone (CV_E2E): a first model is
 * promoted over the floor; a worse model is rejected with its reason recorded; a dataset
 * that adds a breed trains a warm-started challenger whose head grows, beats the champion
 * and is promoted; rollback restores the previous champion.
 */
const maybe = process.env.CV_E2E ? describe : describe.skip;
const OLD = ['beagle', 'pug', 'siberian_husky'];
const NEW = 'golden_retriever';

maybe('model lifecycle (real photos)', () => {
  let root: TempRoot;
  let warehouse: DuckDbWarehouse;
  const log = createLogger('test', 'silent');

  beforeAll(async () => {
    root = tempRoot({
      training: {
        epochs: 8,
        fineTuneEpochs: 2,
        fineTuneLayers: 4,
        batchSize: 16,
        learningRate: 0.005,
        patience: 3,
        augment: { variants: 1 },
      },
      gate: { minTestExamples: 10, minMargin: 0.01, maxClassDrop: 0.25, floorTop1: 0.5 },
    });
    warehouse = await DuckDbWarehouse.open(path.join(root.dir, 'w.duckdb'));
    await writeDatasetVersion(root.lake, 'd1', OLD, splitPhotos(photos(OLD, 25)));
    await writeDatasetVersion(root.lake, 'd2', [...OLD, NEW], splitPhotos(photos([...OLD, NEW], 25)));
  });
  afterAll(async () => {
    await warehouse?.close();
    root?.cleanup();
  });

  const cycle = async (
    runId: string,
    dataset: string,
    overrides: Partial<typeof root.config.training> = {},
    parentVersion?: string | null,
  ) => {
    const config = { ...root.config, training: { ...root.config.training, ...overrides } };
    const trained = await trainModel({
      config,
      runId,
      datasetVersion: dataset,
      modelVersion: `m-${runId}`,
      lake: root.lake,
      warehouse,
      log,
      parentVersion,
    });
    const evaluated = await evaluateAndGate({
      config,
      runId,
      modelVersion: trained.modelVersion,
      datasetVersion: dataset,
      lake: root.lake,
      warehouse,
      log,
    });
    return { trained, evaluated };
  };

  it('promotes the first model when it passes the floor', async () => {
    const { trained, evaluated } = await cycle('r1', 'd1');
    expect(trained.test.top1).toBeGreaterThan(0.6);
    expect(trained.history.some((h) => h.phase === 'finetune')).toBe(true);
    expect(evaluated.decision).toBe('promote');
    expect(evaluated.reason).toMatch(/first model: top-1/);
    const p = await promote({ config: root.config, runId: 'r1', modelVersion: 'm-r1', lake: root.lake, warehouse, log });
    expect(p).toMatchObject({ promoted: true, productionVersion: 'm-r1' });

    // The serving path (backbone cut at the fine-tuning layer + head) agrees with training's numbers.
    const classifier = await loadClassifier(root.lake.models, 'm-r1');
    expect(classifier.meta.backbone.cut).toBe('block_16_project_BN');
    const test = splitPhotos(photos(OLD, 25)).test;
    let hits = 0;
    for (const photo of test) {
      const {
        probs: [probs],
      } = await classifier.predict(await decodeRgb(photo.jpeg, 224), 1);
      if (OLD[Array.from(probs).indexOf(Math.max(...probs))] === photo.label) hits++;
    }
    classifier.dispose();
    expect(Math.abs(hits / test.length - trained.test.top1)).toBeLessThanOrEqual(1 / test.length + 1e-9);
  }, 600_000);

  it('rejects a worse challenger and records why, with both models metrics', async () => {
    // One epoch at a tiny rate from scratch: barely trained.
    const { evaluated } = await cycle('r2', 'd1', { epochs: 1, fineTuneEpochs: 0, learningRate: 1e-5 }, null);
    expect(evaluated.decision).toBe('reject');
    expect(evaluated.reason).toMatch(/^reject: .*vs champion/);
    const p = await promote({ config: root.config, runId: 'r2', modelVersion: 'm-r2', lake: root.lake, warehouse, log });
    expect(p.promoted).toBe(false);
    expect((await readPointer(root.lake.models, 'production')).pointer!.version).toBe('m-r1');
    const [row] = await warehouse.query(
      `SELECT reason, challenger_metrics, champion_metrics FROM {{model_events}} WHERE event = 'rejection'`,
    );
    expect(row.reason).toBe(evaluated.reason);
    expect(JSON.parse(row.champion_metrics as string).top1).toBeGreaterThan(JSON.parse(row.challenger_metrics as string).top1);
  }, 600_000);

  it('a new breed grows the warm-started head without forgetting, and the better challenger is promoted', async () => {
    const { trained, evaluated } = await cycle('r3', 'd2');
    expect(trained.parentVersion).toBe('m-r1');
    expect(trained.warmStart).toMatchObject({ keptClasses: 3, newClasses: [NEW] });
    const recall = Object.fromEntries(trained.test.perClass.map((c) => [c.label, c.recall]));
    for (const old of OLD) expect(recall[old]).toBeGreaterThan(0.4);
    expect(recall[NEW]).toBeGreaterThan(0.4);
    expect(evaluated.championMetrics!.perClass.find((c) => c.label === NEW)!.recall).toBe(0);
    expect(evaluated.decision).toBe('promote');
    const p = await promote({ config: root.config, runId: 'r3', modelVersion: 'm-r3', lake: root.lake, warehouse, log });
    expect(p).toMatchObject({ promoted: true, productionVersion: 'm-r3' });
    const [row] = await warehouse.query(
      `SELECT previous_version, challenger_metrics FROM {{model_events}} WHERE event = 'promotion' AND model_version = 'm-r3'`,
    );
    expect(row.previous_version).toBe('m-r1');
    expect(JSON.parse(row.challenger_metrics as string).top1).toBeCloseTo(evaluated.challengerMetrics.top1);
  }, 600_000);

  it('rolls back to the previous champion', async () => {
    const r = await rollback({ config: root.config, lake: root.lake, warehouse, log });
    expect(r.productionVersion).toBe('m-r1');
    expect((await readPointer(root.lake.models, 'production')).pointer).toMatchObject({ version: 'm-r1', event: 'rollback' });
  });
});
