import * as path from 'node:path';
import { MODEL_FILES, modelKeys } from '../../core/layout';
import { createLogger } from '../../core/log';
import { loadClassifier } from '../../core/model/classifier';
import { readModelMeta } from '../../core/model/model-version';
import { decodeRgb } from '../../core/images/normalize-image';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import { trainModel } from '../train';
import { photos, splitPhotos, tempRoot, writeDatasetVersion } from './fixtures';

/**
 * A short training run on real photos with the real backbone (frozen, 3 breeds × 12
 * photos, 5 epochs): it learns far above chance and writes a complete, loadable model
 * version with its card, charts and warehouse rows.
 */
const BREEDS = ['beagle', 'pug', 'siberian_husky'];

it('trains a model version from a dataset version of real photos', async () => {
  const root = tempRoot({
    training: { epochs: 5, fineTuneEpochs: 0, batchSize: 8, learningRate: 0.01, patience: 5, augment: { variants: 1 } },
  });
  const warehouse = await DuckDbWarehouse.open(path.join(root.dir, 'w.duckdb'));
  try {
    const all = photos(BREEDS, 12);
    await writeDatasetVersion(root.lake, 'd1', BREEDS, splitPhotos(all));
    const result = await trainModel({
      config: root.config,
      runId: 'run1',
      datasetVersion: 'd1',
      modelVersion: 'm1',
      lake: root.lake,
      warehouse,
      log: createLogger('test', 'silent'),
    });
    // Learns: chance is 1/3.
    const best = result.history.find((h) => h.epoch === result.bestEpoch)!;
    expect(best.valAccuracy).toBeGreaterThanOrEqual(0.75);
    expect(result.history[result.history.length - 1].loss).toBeLessThan(result.history[0].loss);
    expect(result.test.n).toBe(6);
    expect(result.parentVersion).toBeNull();
    expect(result.features.computed).toBe(21 * 2 + 9 + 6);

    // A complete version with every artefact; the checkpoint is gone.
    const meta = await readModelMeta(root.lake.models, 'm1');
    expect(meta).toMatchObject({ labels: BREEDS, datasetVersion: 'd1', trainingRunId: 'run1', parentVersion: null });
    for (const f of Object.values(MODEL_FILES).filter((f) => f !== MODEL_FILES.topology)) {
      expect(await root.lake.models.stat(modelKeys.file('m1', f))).toBeDefined();
    }
    for (const png of [MODEL_FILES.confusion, MODEL_FILES.curves]) {
      const bytes = await root.lake.models.read(modelKeys.file('m1', png));
      expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
    }
    const card = (await root.lake.models.read(modelKeys.file('m1', MODEL_FILES.card))).toString('utf8');
    expect(card).toMatch(/\| dataset version \| d1 \|/);
    expect(card).toMatch(/\| siberian_husky \| 2 \| .*% \| .*% \|/);
    expect(card).toMatch(/"labelSmoothing": 0.1/);
    const config = JSON.parse((await root.lake.models.read(modelKeys.file('m1', MODEL_FILES.config))).toString('utf8'));
    expect(config.hyperparameters).toMatchObject({ epochs: 5, batchSize: 8, learningRate: 0.01, optimizer: 'adam' });
    expect(await root.lake.models.stat(modelKeys.checkpoint('run1'))).toBeUndefined();
    expect((await root.lake.models.list(modelKeys.featureCachePrefix)).length).toBeGreaterThan(0);

    // Warehouse rows: one per epoch, one run with all hyperparameters, a registration event.
    const epochs = await warehouse.query(`SELECT epoch, phase FROM {{training_epochs}} WHERE run_id = 'run1' ORDER BY epoch`);
    expect(epochs.map((e) => e.epoch)).toEqual(result.history.map((h) => h.epoch));
    const runs = await warehouse.query(`SELECT model_version, dataset_version, status, hyperparameters FROM {{training_runs}}`);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ model_version: 'm1', dataset_version: 'd1', status: 'succeeded' });
    expect(JSON.parse(runs[0].hyperparameters as string)).toMatchObject({ seed: 42, dropout: 0.2 });
    expect(await warehouse.query(`SELECT event FROM {{model_events}}`)).toEqual([{ event: 'registration' }]);

    // The inference path loads it and classifies a training photo.
    const classifier = await loadClassifier(root.lake.models, 'm1');
    const husky = all.find((p) => p.label === 'siberian_husky')!;
    const {
      probs: [probs],
    } = await classifier.predict(await decodeRgb(husky.jpeg, 224), 1);
    expect(probs.length).toBe(3);
    expect(Array.from(probs).indexOf(Math.max(...probs))).toBe(2);
    classifier.dispose();

    // A second run over the same images computes no trunk features at all.
    const again = await trainModel({
      config: root.config,
      runId: 'run2',
      datasetVersion: 'd1',
      modelVersion: 'm2',
      parentVersion: null,
      lake: root.lake,
      warehouse: null,
      log: createLogger('test', 'silent'),
    });
    expect(again.features).toMatchObject({ computed: 0, cached: 57 });
  } finally {
    await warehouse.close();
    root.cleanup();
  }
}, 120_000);
