import { selectBackend, tf } from '../../core/tf/backend';
import { Prng } from '../features/prng';
import { buildHead } from '../head';
import { balancedClassWeights, Checkpoint, FeatureSet, LoopOptions, predictProbs, runTrainingLoop } from '../loop';
import { baseSpec } from '../../core/model/backbones';
import { cosineDecay } from '../schedule';

/**
 * The training loop on synthetic features (fast, no backbone): it learns, it is
 * deterministic for a seed, and a run resumed from any epoch's checkpoint ends with
 * exactly the weights of an uninterrupted run.
 */
const DIM = 16;
const K = 3;

function synthetic(n: number, seed: number): FeatureSet {
  const r = Prng.from('synthetic', seed);
  const centres = Array.from({ length: K }, (_, c) => Array.from({ length: DIM }, (_, d) => (d % K === c ? 2 : 0)));
  const labels = new Int32Array(n);
  const x = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) {
    const y = i % K;
    labels[i] = y;
    for (let d = 0; d < DIM; d++) x[i * DIM + d] = centres[y][d] + r.uniform(-1.5, 1.5);
  }
  const aug = x.map((v) => v + 0.05);
  return { n, shape: [DIM], variants: [x, aug], labels };
}

const spec = { ...baseSpec('mobilenet_v2_035'), outputShape: [DIM] };
const options = (train: FeatureSet): LoopOptions => ({
  numClasses: K,
  headEpochs: 6,
  fineTuneEpochs: 0,
  learningRate: 0.05,
  fineTuneLearningRate: 0.001,
  batchSize: 16,
  patience: 10,
  dropout: 0.2,
  l2: 1e-4,
  labelSmoothing: 0.1,
  seed: 7,
  classWeights: balancedClassWeights(train.labels, K),
});

async function weightsOf(m: tf.LayersModel): Promise<number[][]> {
  return Promise.all(m.getWeights().map(async (w) => Array.from(await w.data())));
}

beforeAll(async () => {
  await selectBackend(() => undefined);
});

describe('training loop', () => {
  const train = synthetic(120, 1);
  const val = { ...synthetic(45, 2), variants: [synthetic(45, 2).variants[0]] };

  it('learns a separable problem and records every epoch', async () => {
    const parts = await buildHead(spec, K, 7);
    const res = await runTrainingLoop(parts, train, val, options(train));
    expect(res.history).toHaveLength(6);
    expect(res.history[5].valAccuracy).toBeGreaterThan(0.9);
    expect(res.history[5].loss).toBeLessThan(res.history[0].loss);
    expect(res.history.every((h) => h.phase === 'head' && h.learningRate > 0)).toBe(true);
    const probs = predictProbs(parts.head, val.variants[0], val.n, [DIM]);
    expect(probs.length).toBe(val.n * K);
    parts.head.dispose();
  });

  it('is deterministic, and resuming from a checkpoint reproduces the uninterrupted run exactly', async () => {
    const saved: Checkpoint[] = [];
    const a = await buildHead(spec, K, 7);
    const full = await runTrainingLoop(a, train, val, options(train), {
      saveCheckpoint: async (cp) => {
        // Keep copies, as a store would.
        saved.push({
          state: structuredClone(cp.state),
          weights: cp.weights.map((w) => w.clone()),
          best: cp.best.map((w) => w.clone()),
          optimizer: cp.optimizer.map((o) => ({ name: o.name, tensor: o.tensor.clone() })),
        });
      },
    });
    expect(saved).toHaveLength(6);
    const b = await buildHead(spec, K, 7);
    const again = await runTrainingLoop(b, train, val, options(train));
    expect(await weightsOf(b.head)).toEqual(await weightsOf(a.head));

    // "Crash" after epoch 3: a fresh head resumes from that checkpoint.
    const c = await buildHead(spec, K, 999);
    const resumed = await runTrainingLoop(c, train, val, options(train), {}, saved[2]);
    expect(resumed.resumedFromEpoch).toBe(3);
    expect(resumed.history.map((h) => h.valLoss)).toEqual(full.history.map((h) => h.valLoss));
    expect(await weightsOf(c.head)).toEqual(await weightsOf(a.head));
    expect(again.bestEpoch).toBe(full.bestEpoch);
  });

  it('stops early when validation loss stops improving and keeps the best epoch', async () => {
    const parts = await buildHead(spec, K, 7);
    // A huge rate makes validation loss blow up after the first epochs.
    const res = await runTrainingLoop(parts, train, val, { ...options(train), headEpochs: 30, patience: 2, learningRate: 5 });
    expect(res.history.length).toBeLessThan(30);
    const best = Math.min(...res.history.map((h) => h.valLoss));
    expect(res.bestValLoss).toBeCloseTo(best, 10);
    expect(res.history.length - res.bestEpoch!).toBe(2);
  });
});

describe('cosine decay', () => {
  it('starts at the base rate, halves midway and ends near alpha', () => {
    expect(cosineDecay(0.1, 0, 100)).toBeCloseTo(0.1);
    expect(cosineDecay(0.1, 50, 100)).toBeCloseTo(0.1 * (0.02 + 0.98 * 0.5));
    expect(cosineDecay(0.1, 100, 100)).toBeCloseTo(0.002);
  });
});
