import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { baseSpec, loadTrunk } from '../../core/model/backbones';
import { selectBackend, tf } from '../../core/tf/backend';
import { FeatureExtractor } from '../features/extractor';
import { IDENTITY } from '../features/augment';
import { photos } from './fixtures';
import { synthesizeV3 } from './v3-fixture';

/** The MobileNetV3-Small graph-model path (TF Hub format), with a synthesized first shard. */
let modelJson: string;
beforeAll(async () => {
  await selectBackend(() => undefined);
  modelJson = synthesizeV3();
});
afterAll(() => rmSync(path.dirname(modelJson), { recursive: true, force: true }));

it('loads the graph model by path and yields 1024-d feature vectors', async () => {
  const trunk = await loadTrunk(baseSpec('mobilenet_v3_small', modelJson));
  expect(trunk.layersModel).toBeNull();
  const out = trunk.apply(tf.randomUniform([2, 224, 224, 3], 0, 255, 'int32') as tf.Tensor4D);
  expect(out.shape).toEqual([2, 1024]);
  expect(Array.from(await out.data()).every(Number.isFinite)).toBe(true);
  out.dispose();
  trunk.dispose();
});

it('extracts V3 features from real photos in the worker pool', async () => {
  const fx = await FeatureExtractor.start(baseSpec('mobilenet_v3_small', modelJson), { workers: 1, batchSize: 2 });
  try {
    const items = photos(['pug'], 3).map((p) => ({ jpeg: p.jpeg, aug: IDENTITY }));
    const data = await fx.extract(items);
    expect(data.length).toBe(3 * 1024);
    expect(fx.featureSize).toBe(1024);
  } finally {
    await fx.close();
  }
});

it('names the backbone and the URL when the model cannot be loaded', async () => {
  await expect(FeatureExtractor.start(baseSpec('mobilenet_v3_small', '/nonexistent/model.json'), { workers: 1 })).rejects.toThrow(
    /feature worker could not load backbone mobilenet_v3_small from \/nonexistent\/model.json: cannot read model/,
  );
});
