import { readFileSync } from 'node:fs';
import { backboneFiles } from '../../../stacks/backbone-files';
import { FeatureExtractor } from '../../training/features/extractor';
import { backbonePart, baseSpec, loadImagenetHead, loadTrunk, SHARED_MODELS } from '../model/backbones';
import { readModelWeights } from '../model/weights-file';
import { tf } from '../tf/backend';
import { GcsStandIn } from './gcs-stand-in';

/**
 * On Google Cloud the stack uploads the backbone to the models bucket and names it by a
 * gs:// URL (stacks/backbone-files.ts): the services and pipeline steps read it through the
 * object store with their own account, in the main thread (model zero's weights), in model
 * threads and in training's feature workers. Here against a stand-in of the GCS JSON API
 * (STORAGE_EMULATOR_HOST, as the first-boot test runs the containers).
 */
const BUCKET = 'cv-test-models';

describe('mobilenet_v2_100 from a gs:// URL', () => {
  const gcs = new GcsStandIn();
  let url: string;
  const saved = process.env.STORAGE_EMULATOR_HOST;

  beforeAll(async () => {
    process.env.STORAGE_EMULATOR_HOST = await gcs.start();
    const shipped = backboneFiles('mobilenet_v2_100', SHARED_MODELS)!;
    for (const f of shipped.files) gcs.put(BUCKET, f.key, readFileSync(f.source), f.contentType);
    url = `gs://${BUCKET}/${shipped.locationKey}`;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.STORAGE_EMULATOR_HOST;
    else process.env.STORAGE_EMULATOR_HOST = saved;
    await gcs.stop();
  });

  test('the trunk and the ImageNet head load from the bucket and compute what the local copy computes', async () => {
    const images = tf.randomUniform([2, 224, 224, 3], 0, 255, 'int32') as tf.Tensor4D;
    const fromGcs = await loadTrunk(baseSpec('mobilenet_v2_100', url, 224));
    const local = await loadTrunk(baseSpec('mobilenet_v2_100', '', 224));
    const head = await loadImagenetHead(baseSpec('mobilenet_v2_100', url));
    try {
      const a = fromGcs.apply(images);
      const b = local.apply(images);
      expect(a.shape).toEqual([2, 1280]);
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
      expect(head!.outputs[0].shape).toEqual([null, 1001]);
    } finally {
      fromGcs.dispose();
      local.dispose();
      head?.dispose();
    }
    const reads = gcs.requests.filter((r) => r.method === 'GET').map((r) => decodeURIComponent(r.path));
    expect(reads.some((p) => p.includes(`/b/${BUCKET}/o/backbones/`) && p.includes('features_graph/group1-shard1of3.bin'))).toBe(true);
  }, 120_000);

  test('model zero’s weights (read without TensorFlow.js in the main thread) come from the bucket too', async () => {
    const head = backbonePart(baseSpec('mobilenet_v2_100', url), 'imagenetHead')!;
    expect(head).toBe(`${url}/imagenet_head/model.json`);
    const weights = await readModelWeights(head);
    expect([...weights.values()].map((w) => w.shape)).toEqual([[1280, 1001], [1001]]);
  });

  test('training’s feature workers load it from the bucket', async () => {
    const fx = await FeatureExtractor.start(baseSpec('mobilenet_v2_100', url, 160), { workers: 1, batchSize: 2 });
    try {
      expect(fx.featureSize).toBe(1280);
    } finally {
      await fx.close();
    }
  }, 120_000);
});
