import * as path from 'node:path';
import { baseSpec, loadLayersBackbone, loadTrunk } from '../../core/model/backbones';
import { loadClassifier } from '../../core/model/classifier';
import { readModelMeta } from '../../core/model/model-version';
import { createLogger } from '../../core/log';
import { decodeRgb } from '../../core/images/normalize-image';
import { selectBackend, tf } from '../../core/tf/backend';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import { buildHead, trunkSpecFor } from '../head';
import { trainModel } from '../train';
import { installDepthwiseGradient } from '../wasm-depthwise-gradient';
import { photos, splitPhotos, tempRoot, writeDatasetVersion } from './fixtures';

/**
 * MobileNetV2 1.0 (../shared/models/mobilenet_v2_100): the graph model computes what the
 * layers model computes, at every supported input size and up to a cut; a head cut from
 * the layers model reproduces the backbone; and a fine-tuning run on real photos trains
 * the top of the layers model on activations the graph model computed.
 */
beforeAll(async () => {
  await selectBackend(() => undefined);
  installDepthwiseGradient();
});

const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);

describe('loading mobilenet_v2_100', () => {
  it.each([224, 160])('the graph trunk equals the layers model at %i px', async (size) => {
    const spec = baseSpec('mobilenet_v2_100', '', size);
    const trunk = await loadTrunk(spec);
    const layers = await loadLayersBackbone(spec);
    const x = tf.randomUniform([2, size, size, 3], 0, 255, 'int32', 11) as tf.Tensor4D;
    const graph = trunk.apply(x);
    expect(graph.shape).toEqual([2, 1280]);
    const plain = layers.predict(x.toFloat().div(127.5).sub(1)) as tf.Tensor;
    expect(maxDiff(graph, plain)).toBeLessThan(1e-4);
    tf.dispose([x, graph, plain]);
    trunk.dispose();
    layers.dispose();
  });

  it('cuts for fine-tuning: the graph runs to the cut, and the head rebuilt from the layers model finishes the job', async () => {
    const spec = await trunkSpecFor(baseSpec('mobilenet_v2_100'), 8, true);
    expect(spec.cut).toMatch(/^expanded_conv_\d+_/);
    const trunk = await loadTrunk(spec);
    const parts = await buildHead(spec, 3, 1);
    expect(parts.head.layers.map((l) => l.getClassName())).toContain('DepthwiseConv2D');
    const x = tf.randomUniform([2, 224, 224, 3], 0, 255, 'int32', 5) as tf.Tensor4D;
    const { activations, features } = trunk.applyWithFeatures(x);
    expect(activations.shape.slice(1)).toEqual(spec.outputShape);
    expect(features.shape).toEqual([2, 1280]);
    const pooled = parts.pooled.predict(activations) as tf.Tensor;
    expect(maxDiff(pooled, features)).toBeLessThan(1e-4);
    tf.dispose([x, activations, features, pooled]);
    trunk.dispose();
    parts.head.dispose();
  });
});

it('fine-tunes the top of mobilenet_v2_100 on real photos', async () => {
  const BREEDS = ['beagle', 'pug', 'siberian_husky'];
  const root = tempRoot({
    model: { backbone: 'mobilenet_v2_100' },
    training: {
      epochs: 3,
      fineTuneEpochs: 1,
      fineTuneLayers: 8,
      batchSize: 8,
      learningRate: 0.01,
      patience: 5,
      augment: { variants: 1 },
      workers: 2,
    },
  });
  const warehouse = await DuckDbWarehouse.open(path.join(root.dir, 'w.duckdb'));
  try {
    const all = photos(BREEDS, 10);
    await writeDatasetVersion(root.lake, 'd1', BREEDS, splitPhotos(all));
    const result = await trainModel({
      config: root.config,
      runId: 'ft',
      datasetVersion: 'd1',
      modelVersion: 'm1',
      lake: root.lake,
      warehouse,
      log: createLogger('test', 'silent'),
    });
    expect(result.history.map((h) => h.phase)).toContain('finetune');
    const meta = await readModelMeta(root.lake.models, 'm1');
    expect(meta.backbone).toMatchObject({ name: 'mobilenet_v2_100', cut: expect.stringMatching(/^expanded_conv_/) });
    expect(result.test.top1).toBeGreaterThanOrEqual(2 / 3);

    // The version serves (the graph trunk to the cut, the fine-tuned top in the head) and
    // scores the test photos exactly as training measured them on its cached activations.
    const classifier = await loadClassifier(root.lake.models, 'm1');
    let hits = 0;
    for (const p of splitPhotos(all).test) {
      const out = await classifier.predict(await decodeRgb(p.jpeg, 224), 1);
      const probs = Array.from(out.probs[0]);
      if (meta.labels[probs.indexOf(Math.max(...probs))] === p.label) hits++;
      expect(out.dogProbability![0]).toBeGreaterThan(0.5);
    }
    expect(hits / result.test.n).toBeCloseTo(result.test.top1, 5);
    classifier.dispose();
  } finally {
    await warehouse.close();
    root.cleanup();
  }
});
