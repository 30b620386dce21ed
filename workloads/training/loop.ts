import type { WorkloadConfig } from '../core/config/schema';
import { tf } from '../core/tf/backend';
import { Prng, PrngState } from './features/prng';
import type { HeadParts } from './head';
import { cosineDecay } from './schedule';

/** A tensor with a name (optimizer state); tfjs's own type is not exported from the package root. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/**
 * The training loop, on trunk activations already in memory (see features/). A custom
 * loop rather than `model.fit` because it needs: a per-step cosine learning rate, dropout
 * masks and shuffles drawn from a PRNG whose state is checkpointed (tfjs's seeded dropout
 * repeats the same mask every call, and `fit` shuffles with Math.random), a choice among
 * cached augmented variants per example, class weights with label smoothing, and a
 * checkpoint after every epoch from which a resumed run continues bit-for-bit.
 *
 * Two phases: `head` trains only the logits layer (the backbone top stays frozen), then
 * `finetune` (when the head includes backbone layers) trains everything at a lower rate.
 * Early stopping on validation loss per phase; the best weights are kept and restored.
 */
export interface FeatureSet {
  n: number;
  /** Shape of one example (trunk output). */
  shape: number[];
  /** Variant 0 = the images themselves; further variants = augmented copies. Each n × size floats. */
  variants: Float32Array[];
  labels: Int32Array;
}

export interface LoopOptions {
  numClasses: number;
  headEpochs: number;
  fineTuneEpochs: number;
  learningRate: number;
  fineTuneLearningRate: number;
  batchSize: number;
  patience: number;
  dropout: number;
  l2: number;
  labelSmoothing: number;
  seed: number;
  /** Per-class loss weights (length numClasses). */
  classWeights: Float32Array;
}

/** The loop's options from the `training` config: balanced class weights from the training labels. */
export function loopOptionsFor(t: WorkloadConfig['training'], numClasses: number, trainLabels: Int32Array): LoopOptions {
  return {
    numClasses,
    headEpochs: t.epochs,
    fineTuneEpochs: t.fineTuneEpochs,
    learningRate: t.learningRate,
    fineTuneLearningRate: t.fineTuneLearningRate,
    batchSize: t.batchSize,
    patience: t.patience,
    dropout: t.dropout,
    l2: t.l2,
    labelSmoothing: t.labelSmoothing,
    seed: t.seed,
    classWeights: balancedClassWeights(trainLabels, numClasses),
  };
}

export type Phase = 'head' | 'finetune';

export interface EpochRecord {
  /** Global epoch number, from 1. */
  epoch: number;
  phase: Phase;
  loss: number;
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
  learningRate: number;
  durationS: number;
}

/** Everything needed to continue a run exactly where it stopped. */
export interface LoopState {
  phaseIndex: number;
  /** Epochs completed in the current phase. */
  phaseEpoch: number;
  prng: PrngState;
  bestValLoss: number;
  bestEpoch: number | null;
  sinceBest: number;
  history: EpochRecord[];
  done: boolean;
}

export interface Checkpoint {
  state: LoopState;
  weights: tf.Tensor[];
  best: tf.Tensor[];
  optimizer: NamedTensor[];
}

export interface LoopHooks {
  onEpoch?(record: EpochRecord): void | Promise<void>;
  onBatch?(phase: Phase, batch: number, batches: number): void;
  /** Called after every epoch with the state to persist; awaited before the next epoch. */
  saveCheckpoint?(cp: Checkpoint): Promise<void>;
}

export interface LoopResult {
  history: EpochRecord[];
  bestEpoch: number | null;
  bestValLoss: number;
  resumedFromEpoch: number;
}

interface PhasePlan {
  phase: Phase;
  epochs: number;
  lr: number;
}

function phasesOf(o: LoopOptions, fineTunable: boolean): PhasePlan[] {
  const plans: PhasePlan[] = [{ phase: 'head', epochs: o.headEpochs, lr: o.learningRate }];
  if (fineTunable && o.fineTuneEpochs > 0) plans.push({ phase: 'finetune', epochs: o.fineTuneEpochs, lr: o.fineTuneLearningRate });
  return plans.filter((p) => p.epochs > 0);
}

/**
 * Adam's full state. `getWeights` leaves out the running powers β₁ᵗ, β₂ᵗ and `setWeights`
 * recomputes them with pow(), which differs from the running product in the last bits,
 * so they are saved and restored too: a resumed run then matches an uninterrupted one
 * bit for bit.
 */
type AdamInternals = { accBeta1: tf.Variable; accBeta2: tf.Variable };
const ACC_BETA = ['__accBeta1', '__accBeta2'] as const;

async function optimizerState(opt: tf.AdamOptimizer): Promise<NamedTensor[]> {
  const internals = opt as unknown as AdamInternals;
  return [
    ...(await opt.getWeights()),
    { name: ACC_BETA[0], tensor: internals.accBeta1 },
    { name: ACC_BETA[1], tensor: internals.accBeta2 },
  ];
}

async function restoreOptimizer(opt: tf.AdamOptimizer, saved: NamedTensor[]): Promise<void> {
  const internals = opt as unknown as AdamInternals;
  await opt.setWeights(
    saved.filter((w) => !(ACC_BETA as readonly string[]).includes(w.name)).map((w) => ({ name: w.name, tensor: w.tensor.clone() })),
  );
  const b1 = saved.find((w) => w.name === ACC_BETA[0]);
  const b2 = saved.find((w) => w.name === ACC_BETA[1]);
  if (b1) internals.accBeta1.assign(b1.tensor);
  if (b2) internals.accBeta2.assign(b2.tensor);
}

const setLr = (opt: tf.AdamOptimizer, lr: number): void => {
  // tfjs reads `learningRate` on every applyGradients call; it is protected only in the typings.
  (opt as unknown as { learningRate: number }).learningRate = lr;
};

/** Class weights inversely proportional to class frequency, normalised to mean 1 over examples (Keras "balanced"). */
export function balancedClassWeights(labels: Int32Array, numClasses: number): Float32Array {
  const counts = new Float32Array(numClasses);
  for (const y of labels) counts[y]++;
  const w = new Float32Array(numClasses);
  for (let c = 0; c < numClasses; c++) w[c] = counts[c] > 0 ? labels.length / (numClasses * counts[c]) : 1;
  return w;
}

/** Soft-target cross entropy per example: −Σ t·log softmax(logits). */
function crossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Tensor1D {
  return tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1)) as tf.Tensor1D;
}

export async function runTrainingLoop(
  parts: HeadParts,
  train: FeatureSet,
  val: FeatureSet,
  o: LoopOptions,
  hooks: LoopHooks = {},
  resume?: Checkpoint,
): Promise<LoopResult> {
  const fineTunable = parts.topLayers.some((l) => l.trainableWeights.length > 0);
  const plans = phasesOf(o, fineTunable);
  const headVars = parts.logits.trainableWeights.map((w) => w.read() as tf.Variable);
  const allVars = parts.head.trainableWeights.map((w) => w.read() as tf.Variable);
  const kernel = headVars[0];
  const size = train.shape.reduce((a, b) => a * b, 1);
  const k = o.numClasses;

  let state: LoopState = {
    phaseIndex: 0,
    phaseEpoch: 0,
    prng: Prng.from('train', o.seed).state(),
    bestValLoss: Infinity,
    bestEpoch: null,
    sinceBest: 0,
    history: [],
    done: false,
  };
  let best: tf.Tensor[] = parts.head.getWeights().map((w) => w.clone());
  let optimizer = tf.train.adam(plans[0]?.lr ?? o.learningRate);
  if (resume) {
    state = structuredClone(resume.state);
    parts.head.setWeights(resume.weights);
    best.forEach((t) => t.dispose());
    best = resume.best.map((w) => w.clone());
    if (state.phaseIndex < plans.length) optimizer = tf.train.adam(plans[state.phaseIndex].lr);
    if (resume.optimizer.length > 0) await restoreOptimizer(optimizer, resume.optimizer);
  }
  const resumedFromEpoch = state.history.length;
  const prng = new Prng(state.prng);

  // Pooled features of the frozen top, per variant: the head phase trains only the logits
  // layer, so the (frozen) top blocks need to run once, not once per epoch.
  const pooledOf = (x: tf.Tensor): tf.Tensor2D =>
    (parts.topLayers.length === 0 ? x : (parts.pooled.apply(x, { training: false }) as tf.Tensor)) as tf.Tensor2D;
  const precomputePooled = (set: FeatureSet): Float32Array[] =>
    set.variants.map((data) => {
      if (parts.topLayers.length === 0) return data;
      const out = new Float32Array(set.n * parts.featureDim);
      for (let s = 0; s < set.n; s += 64) {
        const m = Math.min(64, set.n - s);
        const p = tf.tidy(() => pooledOf(tf.tensor(data.subarray(s * size, (s + m) * size), [m, ...set.shape])));
        out.set(p.dataSync(), s * parts.featureDim);
        p.dispose();
      }
      return out;
    });

  const classWeights = tf.tensor1d(o.classWeights);
  try {
    while (!state.done && state.phaseIndex < plans.length) {
      const plan = plans[state.phaseIndex];
      const pooledMode = plan.phase === 'head';
      const trainData = pooledMode ? precomputePooled(train) : train.variants;
      const valData = pooledMode ? precomputePooled({ ...val, variants: [val.variants[0]] })[0] : val.variants[0];
      const exSize = pooledMode ? parts.featureDim : size;
      const exShape = pooledMode ? [parts.featureDim] : train.shape;
      const vars = pooledMode ? headVars : allVars;
      const stepsPerEpoch = Math.ceil(train.n / o.batchSize);
      // No tidy in here: it runs inside the optimizer's gradient tape and an outer tidy.
      const forward = (x: tf.Tensor, mask: tf.Tensor | null): tf.Tensor2D => {
        let f = pooledMode ? x : pooledOf(x);
        if (mask) f = f.mul(mask);
        return parts.logits.apply(f) as tf.Tensor2D;
      };

      while (state.phaseEpoch < plan.epochs) {
        const started = Date.now();
        const order = prng.shuffle(Array.from({ length: train.n }, (_, i) => i));
        let lossSum = 0;
        let correct = 0;
        let lr = plan.lr;
        for (let b = 0; b < stepsPerEpoch; b++) {
          const idx = order.slice(b * o.batchSize, (b + 1) * o.batchSize);
          const m = idx.length;
          // Each example is seen as one of its cached variants, drawn per epoch.
          const xs = new Float32Array(m * exSize);
          idx.forEach((ex, i) => {
            const v = trainData.length > 1 ? prng.int(trainData.length) : 0;
            xs.set(trainData[v].subarray(ex * exSize, (ex + 1) * exSize), i * exSize);
          });
          const maskData = new Float32Array(m * parts.featureDim);
          if (o.dropout > 0) for (let i = 0; i < maskData.length; i++) maskData[i] = prng.next() < o.dropout ? 0 : 1 / (1 - o.dropout);
          const ys = Int32Array.from(idx, (ex) => train.labels[ex]);
          lr = cosineDecay(plan.lr, state.phaseEpoch * stepsPerEpoch + b, plan.epochs * stepsPerEpoch);
          setLr(optimizer, lr);
          const { loss, hits } = tf.tidy(() => {
            const x = tf.tensor(xs, [m, ...exShape]);
            const mask = o.dropout > 0 ? tf.tensor2d(maskData, [m, parts.featureDim]) : null;
            const y = tf.tensor1d(ys, 'int32');
            const targets = tf
              .oneHot(y, k)
              .toFloat()
              .mul(1 - o.labelSmoothing)
              .add(o.labelSmoothing / k) as tf.Tensor2D;
            const w = tf.gather(classWeights, y);
            let logitsOut: tf.Tensor2D | undefined;
            const cost = optimizer.minimize(
              () => {
                const logits = forward(x, mask);
                logitsOut = tf.keep(logits);
                const ce = tf.mean(tf.mul(crossEntropy(logits, targets), w));
                return (o.l2 > 0 ? ce.add(tf.sum(tf.square(kernel)).mul(o.l2)) : ce) as tf.Scalar;
              },
              true,
              vars,
            )!;
            const h = tf.sum(tf.equal(tf.argMax(logitsOut!, 1), y).toInt());
            logitsOut!.dispose();
            return { loss: cost, hits: h };
          });
          lossSum += (await loss.data())[0] * m;
          correct += (await hits.data())[0];
          loss.dispose();
          hits.dispose();
          hooks.onBatch?.(plan.phase, b + 1, stepsPerEpoch);
        }
        const v = evaluateLogits(valData, val.labels, exShape, k, (x) => forward(x, null));
        state.phaseEpoch++;
        const record: EpochRecord = {
          epoch: state.history.length + 1,
          phase: plan.phase,
          loss: lossSum / train.n,
          accuracy: correct / train.n,
          valLoss: v.loss,
          valAccuracy: v.accuracy,
          learningRate: lr,
          durationS: (Date.now() - started) / 1000,
        };
        state.history.push(record);
        if (v.loss < state.bestValLoss - 1e-4) {
          state.bestValLoss = v.loss;
          state.bestEpoch = record.epoch;
          state.sinceBest = 0;
          best.forEach((t) => t.dispose());
          best = parts.head.getWeights().map((w) => w.clone());
        } else {
          state.sinceBest++;
        }
        const stop = state.sinceBest >= o.patience || state.phaseEpoch >= plan.epochs;
        if (stop) {
          // Next phase starts from this phase's best weights, with a fresh optimizer.
          parts.head.setWeights(best);
          state.phaseIndex++;
          state.phaseEpoch = 0;
          state.sinceBest = 0;
          optimizer.dispose();
          optimizer = tf.train.adam(plans[state.phaseIndex]?.lr ?? o.learningRate);
          if (state.phaseIndex >= plans.length) state.done = true;
        }
        state.prng = prng.state();
        await hooks.onEpoch?.(record);
        if (hooks.saveCheckpoint) {
          const optWeights = state.done || stop ? [] : await optimizerState(optimizer);
          await hooks.saveCheckpoint({ state: structuredClone(state), weights: parts.head.getWeights(), best, optimizer: optWeights });
        }
        if (stop) break;
      }
    }
    parts.head.setWeights(best);
    return { history: state.history, bestEpoch: state.bestEpoch, bestValLoss: state.bestValLoss, resumedFromEpoch };
  } finally {
    classWeights.dispose();
    optimizer.dispose();
    best.forEach((t) => t.dispose());
  }
}

/** Mean cross entropy and accuracy of a logits function over a feature matrix, in batches. */
export function evaluateLogits(
  data: Float32Array,
  labels: Int32Array,
  shape: number[],
  k: number,
  logitsOf: (x: tf.Tensor) => tf.Tensor2D,
): { loss: number; accuracy: number } {
  const size = shape.reduce((a, b) => a * b, 1);
  const n = labels.length;
  let loss = 0;
  let correct = 0;
  for (let s = 0; s < n; s += 128) {
    const m = Math.min(128, n - s);
    const [l, c] = tf.tidy(() => {
      const logits = logitsOf(tf.tensor(data.subarray(s * size, (s + m) * size), [m, ...shape]));
      const y = tf.tensor1d(labels.subarray(s, s + m), 'int32');
      const ce = tf.sum(crossEntropy(logits, tf.oneHot(y, k).toFloat() as tf.Tensor2D));
      const hits = tf.sum(tf.equal(tf.argMax(logits, 1), y).toInt());
      return [ce.dataSync()[0], hits.dataSync()[0]];
    });
    loss += l;
    correct += c;
  }
  return { loss: loss / Math.max(1, n), accuracy: correct / Math.max(1, n) };
}

/** Class probabilities of a head over a feature matrix (n × k, row-major). */
export function predictProbs(head: tf.LayersModel, data: Float32Array, n: number, shape: number[], batch = 128): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const k = (head.outputs[0].shape[1] as number) ?? 0;
  const out = new Float32Array(n * k);
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    const p = tf.tidy(() => head.predict(tf.tensor(data.subarray(s * size, (s + m) * size), [m, ...shape])) as tf.Tensor);
    out.set(p.dataSync() as Float32Array, s * k);
    p.dispose();
  }
  return out;
}
