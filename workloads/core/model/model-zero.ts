import { createHash } from 'node:crypto';
import type { WorkloadConfig } from '../config/schema';
import { BREEDS, type Breed } from '../dogapi/breeds';
import { MODEL_FILES, modelKeys } from '../layout';
import { ObjectStore, PreconditionFailedError } from '../storage/object-store';
import type { Row } from '../warehouse/tables';
import { backbonePart, BackboneSpec, configuredSpec, IMAGENET } from './catalog';
import { isComplete, markComplete } from './complete';
import type { ModelVersionMeta } from './model-version';
import { movePointer, PointerConflictError, readPointer } from './registry';
import { readModelWeights } from './weights-file';

/**
 * Model zero: what a new stack serves before any data exists. The backbone's ImageNet head
 * (features → 1001 classes) restricted to the ImageNet classes of the breed table
 * (core/dogapi/breeds.ts, `imagenetClass`): a Dense layer whose columns are the head's
 * columns for those classes, then a softmax over them, which is exactly the ImageNet
 * head's probabilities renormalised over our breeds. A breed without an ImageNet class is
 * absent from it until a trained model learns it (and is scored wrong for model zero).
 *
 * It is an ordinary model version (head/, labels.json, version.json with `kind:
 * "zero-shot"`, MODEL_CARD.md, COMPLETE.json), so it serves, shadows, is evaluated and is
 * beaten through the same code as a trained one: the first trained challenger must beat it.
 *
 * Who creates it: whoever finds the registry without a champion and calls
 * {@link ensureModelZero}; the inference service does so at start (locally and on a fresh
 * cloud stack), without waiting for any data. It is idempotent and safe to race: the
 * version name is a function of what goes into it, every file is written create-only
 * (identical bytes from every writer), COMPLETE.json is create-only, and the production
 * pointer is created only if absent (generation 0), so of two instances starting at once
 * exactly one promotes it and records the events.
 *
 * Free of TensorFlow.js: the weights are sliced from the ImageNet head's shards as bytes,
 * and the head is written in the tfjs layers format directly (its loading is tested).
 */
export const ZERO_SHOT = 'zero-shot';

export interface ZeroShotPlan {
  /** Breeds model zero names, sorted (its label map). */
  labels: string[];
  /** Their ImageNet classes (0–999), in label order. */
  imagenetClasses: number[];
  /** Breeds of the table without an ImageNet class: absent from model zero. */
  absent: string[];
}

export function zeroShotPlan(breeds: readonly Breed[] = BREEDS): ZeroShotPlan {
  const mapped = breeds
    .filter((b): b is Breed & { imagenetClass: number } => b.imagenetClass !== null)
    .sort((a, b) => a.label.localeCompare(b.label));
  for (const b of mapped) {
    if (!Number.isInteger(b.imagenetClass) || b.imagenetClass < 0 || b.imagenetClass > 999)
      throw new Error(`breed ${b.label}: imagenetClass ${b.imagenetClass} is not an ImageNet-1k class (0–999)`);
  }
  return {
    labels: mapped.map((b) => b.label),
    imagenetClasses: mapped.map((b) => b.imagenetClass),
    absent: breeds.filter((b) => b.imagenetClass === null).map((b) => b.label),
  };
}

/**
 * A name that sorts before every trained version (names sort by time, and model zero comes
 * first) and is the same for the same inputs, so racing writers agree on it.
 */
export function modelZeroVersion(spec: BackboneSpec, plan: ZeroShotPlan): string {
  const hash = createHash('sha256')
    .update(JSON.stringify([spec.name, spec.inputSize, plan.labels, plan.imagenetClasses]))
    .digest('hex')
    .slice(0, 6);
  return `v19700101T000000Z-zero-${hash}`;
}

/** The head in the tfjs layers format: features → Dense `logits` → softmax `probs` (what training writes, see training/head.ts). */
function headTopology(featureDim: number, units: number): Record<string, unknown> {
  return {
    class_name: 'Model',
    config: {
      name: 'head',
      layers: [
        {
          name: 'features',
          class_name: 'InputLayer',
          config: { batch_input_shape: [null, featureDim], dtype: 'float32', sparse: false, name: 'features' },
          inbound_nodes: [],
        },
        {
          name: 'logits',
          class_name: 'Dense',
          config: {
            units,
            activation: 'linear',
            use_bias: true,
            kernel_initializer: { class_name: 'Zeros', config: {} },
            bias_initializer: { class_name: 'Zeros', config: {} },
            kernel_regularizer: null,
            bias_regularizer: null,
            activity_regularizer: null,
            kernel_constraint: null,
            bias_constraint: null,
            name: 'logits',
            trainable: true,
          },
          inbound_nodes: [[['features', 0, 0, {}]]],
        },
        {
          name: 'probs',
          class_name: 'Activation',
          config: { activation: 'softmax', name: 'probs', trainable: true },
          inbound_nodes: [[['logits', 0, 0, {}]]],
        },
      ],
      input_layers: [['features', 0, 0]],
      output_layers: [['probs', 0, 0]],
    },
    keras_version: 'tfjs-layers 4.22.0',
    backend: 'tensor_flow.js',
  };
}

/** The files of the model zero version (keys inside its folder). */
export async function modelZeroFiles(spec: BackboneSpec, plan: ZeroShotPlan, createdAt: Date): Promise<Record<string, Buffer>> {
  const url = backbonePart(spec, 'imagenetHead');
  if (!url) throw new Error(`backbone ${spec.name} has no ImageNet head: it cannot have a zero-shot model zero`);
  const weights = await readModelWeights(url);
  const kernel = [...weights.values()].find((w) => w.shape.length === 2);
  const bias = [...weights.values()].find((w) => w.shape.length === 1);
  if (!kernel || !bias) throw new Error(`${url}: expected a Dense kernel and bias`);
  const [dim, classes] = kernel.shape;
  if (dim !== spec.outputShape[0] || classes !== IMAGENET.units)
    throw new Error(`${url}: the ImageNet head is ${dim} → ${classes}; expected ${spec.outputShape[0]} → 1001`);
  const k = plan.labels.length;
  const w = new Float32Array(dim * k + k);
  for (let r = 0; r < dim; r++) {
    plan.imagenetClasses.forEach((c, j) => (w[r * k + j] = kernel.data[r * classes + c + IMAGENET.offset]));
  }
  plan.imagenetClasses.forEach((c, j) => (w[dim * k + j] = bias.data[c + IMAGENET.offset]));

  const version = modelZeroVersion(spec, plan);
  const meta: ModelVersionMeta = {
    version,
    createdAt: createdAt.toISOString(),
    labels: plan.labels,
    backbone: spec,
    datasetVersion: null,
    parentVersion: null,
    trainingRunId: null,
    kind: ZERO_SHOT,
  };
  const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
  const modelJson = {
    modelTopology: headTopology(dim, k),
    format: 'layers-model',
    generatedBy: 'creature-vision model zero',
    weightsManifest: [
      {
        paths: ['weights.bin'],
        weights: [
          { name: 'logits/kernel', shape: [dim, k], dtype: 'float32' },
          { name: 'logits/bias', shape: [k], dtype: 'float32' },
        ],
      },
    ],
  };
  const mapping = plan.labels.map((l, j) => `| ${l} | ${plan.imagenetClasses[j]} |`).join('\n');
  const card = [
    `# Model card: ${version} (zero-shot model zero)`,
    '',
    `The ${spec.name} backbone's ImageNet head restricted to the ImageNet classes of ${k} breeds, with no training:`,
    "the probabilities are the ImageNet head's, renormalised over these classes. It serves a new stack until a",
    'trained model beats it at the promotion gate; its test metrics are in that evaluation record.',
    '',
    `Input: RGB ${spec.inputSize}×${spec.inputSize}. Breeds without an ImageNet class (absent until trained): ${plan.absent.join(', ') || 'none'}.`,
    '',
    '| breed | ImageNet class (0–999) |',
    '| --- | --- |',
    mapping,
    '',
  ].join('\n');
  return {
    'head/weights.bin': Buffer.from(w.buffer),
    'head/model.json': json(modelJson),
    [MODEL_FILES.labels]: json({ labels: plan.labels }),
    'version.json': json(meta),
    [MODEL_FILES.card]: Buffer.from(card),
  };
}

export interface ModelZeroOutcome {
  /** Model zero's version, or null when there is none to serve (see `reason`). */
  version: string | null;
  /** This call moved the production pointer to it (record the events once: only then). */
  promoted: boolean;
  reason: string;
}

/**
 * Makes sure the registry has a champion: when the production pointer is absent, writes
 * model zero (if not already complete) and points production at it. Idempotent and safe
 * to run from several processes at once (see the file comment).
 */
export async function ensureModelZero(o: {
  store: ObjectStore;
  model: WorkloadConfig['model'];
  breeds?: readonly Breed[];
  now?: Date;
}): Promise<ModelZeroOutcome> {
  const { store } = o;
  const production = await readPointer(store, 'production');
  if (production.pointer) return { version: null, promoted: false, reason: `the registry has a champion (${production.pointer.version})` };
  if (!o.model.zeroShot) return { version: null, promoted: false, reason: 'model.zeroShot is off' };
  const spec = configuredSpec(o.model);
  if (!backbonePart(spec, 'imagenetHead')) return { version: null, promoted: false, reason: `backbone ${spec.name} has no ImageNet head` };
  const plan = zeroShotPlan(o.breeds);
  if (plan.labels.length < 2)
    return { version: null, promoted: false, reason: `only ${plan.labels.length} breed(s) of the breed table have an ImageNet class` };
  const version = modelZeroVersion(spec, plan);
  const now = o.now ?? new Date();
  if (!(await isComplete(store, version))) {
    const files = await modelZeroFiles(spec, plan, now);
    // Weights before topology, everything before COMPLETE.json (as training writes a version).
    for (const name of ['head/weights.bin', 'head/model.json', MODEL_FILES.labels, 'version.json', MODEL_FILES.card]) {
      await createOnly(() => store.write(modelKeys.file(version, name), files[name], { ifGenerationMatch: '0' }));
    }
    await createOnly(() => markComplete(store, version, { kind: ZERO_SHOT, labels: plan.labels.length }));
  }
  const reason =
    `zero-shot model zero: the ${spec.name} ImageNet head restricted to ${plan.labels.length} breeds' ImageNet classes ` +
    `(absent until trained: ${plan.absent.join(', ') || 'none'}), promoted because the registry had no champion`;
  try {
    await movePointer(
      store,
      'production',
      { version, previousVersion: null, movedAt: now.toISOString(), event: 'promotion', reason, eventId: `promotion-${version}` },
      production.generation,
    );
  } catch (err) {
    if (err instanceof PointerConflictError)
      return { version, promoted: false, reason: 'another process set the production pointer first' };
    throw err;
  }
  return { version, promoted: true, reason };
}

/** A create-only write that another writer already made (the same bytes, by construction) is done. */
async function createOnly(write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (err) {
    if (!(err instanceof PreconditionFailedError)) throw err;
  }
}

/** The warehouse rows recording model zero's creation and promotion (write them only when `promoted`). */
export function modelZeroEvents(outcome: ModelZeroOutcome, at: Date = new Date()): Row<'model_events'>[] {
  if (!outcome.version || !outcome.promoted) return [];
  const base = {
    ts: at,
    model_version: outcome.version,
    previous_version: null,
    dataset_version: null,
    challenger_metrics: null,
    champion_metrics: null,
    run_id: null,
  };
  return [
    { ...base, event_id: `registration-${outcome.version}`, event: 'registration', reason: `${ZERO_SHOT}: ${outcome.reason}` },
    { ...base, event_id: `promotion-${outcome.version}`, event: 'promotion', reason: outcome.reason },
  ];
}
