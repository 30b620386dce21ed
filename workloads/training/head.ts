import { BACKBONES, BackboneSpec, loadLayersBackbone } from '../core/model/backbones';
import { tf } from '../core/tf/backend';
import { depthwiseTrainable } from './wasm-depthwise-gradient';

/**
 * The trainable part of a model version. Input: the trunk's output (see BackboneSpec.cut).
 *   cut = null:  [features] → Dense(logits) → softmax
 *   cut = layer: [activations] → the backbone's layers above the cut, copied with their
 *                ImageNet weights (fine-tunable) → global pooling → Dense(logits) → softmax
 * Fine-tuning "the top blocks at a lower rate" is affordable because the activations at the
 * cut are computed once per image and cached; only the small top runs per training step.
 */
export const LOGITS_LAYER = 'logits';
export const PROBS_LAYER = 'probs';

export interface HeadParts {
  head: tf.LayersModel;
  /** Trunk output → pooled feature vector (identity-like input model when cut = null). */
  pooled: tf.LayersModel;
  logits: tf.layers.Layer;
  /** The copied backbone layers (empty when cut = null). */
  topLayers: tf.layers.Layer[];
  featureDim: number;
}

interface ConvConfig {
  kernelSize: number[];
  strides: number[];
  dilationRate: number[] | number;
  filters: number;
  useBias: boolean;
  activation: string;
}

function isPointwiseConv(layer: tf.layers.Layer): boolean {
  if (layer.getClassName() !== 'Conv2D') return false;
  const c = layer.getConfig() as unknown as ConvConfig;
  return c.kernelSize.every((k) => k === 1) && c.strides.every((s) => s === 1);
}

/**
 * A 1×1 convolution is a Dense layer over the channel axis. The WASM backend has no
 * gradient kernel for convolutions (Conv2DBackpropFilter), but has one for matrix
 * products, so the copied top of the backbone uses Dense layers where it can: same
 * function, same weights, trainable everywhere.
 */
function asDense(layer: tf.layers.Layer): tf.layers.Layer | null {
  if (!isPointwiseConv(layer)) return null;
  const c = layer.getConfig() as unknown as ConvConfig;
  // Always with a bias: a following BatchNormalization folds into it.
  return tf.layers.dense({ units: c.filters, useBias: true, activation: c.activation as 'linear', name: layer.name });
}

/**
 * The BatchNormalization right after top[i] when it reads only top[i] and nothing else
 * reads top[i]: in inference mode it is an affine map that folds into the Dense layer
 * (fewer ops, and the WASM BatchNorm gradient is slow: it tiles the statistics).
 */
function foldableBatchNorm(top: tf.layers.Layer[], i: number): tf.layers.Layer | null {
  const next = top[i + 1];
  if (!next || next.getClassName() !== 'BatchNormalization') return null;
  const c = next.getConfig() as { axis?: number | number[]; center?: boolean; scale?: boolean };
  if (!(c.axis === -1 || c.axis === 3 || (Array.isArray(c.axis) && c.axis.length === 1 && (c.axis[0] === -1 || c.axis[0] === 3))))
    return null;
  if (next.inboundNodes[0].inboundLayers.length !== 1 || next.inboundNodes[0].inboundLayers[0] !== top[i]) return null;
  const readers = top.filter((l) => l.inboundNodes[0]?.inboundLayers.includes(top[i]));
  return readers.length === 1 ? next : null;
}

/** BatchNormalization weights as the per-channel affine map y = x·scale + shift (inference mode). */
function batchNormAffine(bn: tf.layers.Layer, channels: number): { scale: tf.Tensor1D; shift: tf.Tensor1D; mean: tf.Tensor1D } {
  const cfg = bn.getConfig() as { epsilon: number; center: boolean; scale: boolean };
  const w = bn.getWeights();
  let k = 0;
  const gamma = cfg.scale ? w[k++] : tf.ones([channels]);
  const beta = cfg.center ? w[k++] : tf.zeros([channels]);
  const mean = w[k] as tf.Tensor1D;
  const variance = w[k + 1];
  const scale = gamma.div(variance.add(cfg.epsilon).sqrt()) as tf.Tensor1D;
  return { scale, shift: beta as tf.Tensor1D, mean };
}

/**
 * A depthwise convolution followed only by its BatchNormalization, as one depthwise
 * convolution with a bias: the same function in inference mode, half the ops, and no
 * BatchNorm gradient (slow on WASM) in the fine-tuning step.
 */
function foldedDepthwise(conv: tf.layers.Layer, bn: tf.layers.Layer): { layer: tf.layers.Layer; weights: () => tf.Tensor[] } {
  const c = conv.getConfig() as unknown as ConvConfig & { padding: 'same' | 'valid'; depthMultiplier: number };
  const layer = tf.layers.depthwiseConv2d({
    kernelSize: c.kernelSize as [number, number],
    strides: c.strides as [number, number],
    padding: c.padding,
    depthMultiplier: c.depthMultiplier,
    dilationRate: c.dilationRate as number,
    useBias: true,
    activation: c.activation as 'linear',
    name: conv.name,
  });
  const weights = (): tf.Tensor[] =>
    tf.tidy(() => {
      const [kernel, maybeBias] = conv.getWeights();
      const [, , inChannels, multiplier] = kernel.shape as [number, number, number, number];
      const { scale, shift, mean } = batchNormAffine(bn, inChannels * multiplier);
      const bias = maybeBias ?? tf.zeros([inChannels * multiplier]);
      return [kernel.mul(scale.reshape([1, 1, inChannels, multiplier])), bias.sub(mean).mul(scale).add(shift)];
    });
  return { layer, weights };
}

function denseWeights(conv: tf.layers.Layer, bn: tf.layers.Layer | null): tf.Tensor[] {
  const [kernel4d, maybeBias] = conv.getWeights();
  const [, , inputs, out] = kernel4d.shape as [number, number, number, number];
  let kernel = kernel4d.reshape([inputs, out]);
  let bias = maybeBias ?? tf.zeros([out]);
  if (bn) {
    const { scale, shift, mean } = batchNormAffine(bn, out);
    kernel = kernel.mul(scale);
    bias = bias.sub(mean).mul(scale).add(shift);
  }
  return [kernel, bias];
}

/** Whether the current backend can compute gradients through `layer` once it is in a head. */
function trainableHere(layer: tf.layers.Layer): boolean {
  const cls = layer.getClassName();
  if (cls === 'Conv2D' && !isPointwiseConv(layer)) return tf.getKernel('Conv2DBackpropFilter', tf.getBackend()) !== undefined;
  // Native kernels (tfjs-node, cpu) or the composed WASM gradient (wasm-depthwise-gradient.ts).
  if (cls === 'DepthwiseConv2D') return depthwiseTrainable();
  return true;
}

/** Whether every path from the input to the output goes through `layer` (a valid place to cut). */
function isArticulation(model: tf.LayersModel, index: number): boolean {
  const name = model.layers[index].name;
  for (const later of model.layers.slice(index + 1)) {
    for (const inbound of later.inboundNodes[0]?.inboundLayers ?? []) {
      const i = model.layers.indexOf(inbound);
      if (i < index) return false;
      if (i === index && inbound.name !== name) return false;
    }
  }
  return true;
}

/**
 * The cut layer for fine-tuning the top `fineTuneLayers` layers of a layers backbone: the
 * first layer at or above that depth through which every path passes (so a residual block
 * is never split). `null` when nothing is fine-tuned.
 */
export function resolveCut(backbone: tf.LayersModel, fineTuneLayers: number): string | null {
  if (fineTuneLayers <= 0) return null;
  const last = backbone.layers.length - 1;
  // Layers the backend cannot train (convolutions on WASM, beyond 1×1) push the cut up.
  let lowest = 1;
  backbone.layers.forEach((l, i) => {
    if (!trainableHere(l)) lowest = Math.max(lowest, i);
  });
  for (let i = Math.max(lowest, last - fineTuneLayers); i < last; i++) {
    if (isArticulation(backbone, i)) return backbone.layers[i].name;
  }
  return null;
}

/** The spec of the trunk for a training configuration (loads a layers backbone to find the cut's shape). */
export async function trunkSpecFor(spec: BackboneSpec, fineTuneLayers: number, fineTune: boolean): Promise<BackboneSpec> {
  if (!fineTune || !BACKBONES[spec.name].fineTunable || fineTuneLayers <= 0) return spec;
  const backbone = await loadLayersBackbone(spec);
  try {
    const cut = resolveCut(backbone, fineTuneLayers);
    if (cut === null) return spec;
    const shape = (backbone.getLayer(cut).outputShape as number[]).slice(1);
    return { ...spec, cut, outputShape: shape };
  } finally {
    backbone.dispose();
  }
}

async function cloneModel(model: tf.LayersModel): Promise<tf.LayersModel> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tf.loadLayersModel(tf.io.fromMemory(saved!));
}

/** Builds a fresh head for `spec` with `numClasses` outputs; `seed` makes the new Dense weights reproducible. */
export async function buildHead(spec: BackboneSpec, numClasses: number, seed: number): Promise<HeadParts> {
  let head: tf.LayersModel;
  const dense = (): tf.layers.Layer =>
    tf.layers.dense({
      units: numClasses,
      name: LOGITS_LAYER,
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
      biasInitializer: 'zeros',
    });
  if (spec.cut === null) {
    const input = tf.input({ shape: spec.outputShape, name: 'features' });
    const logits = dense().apply(input) as tf.SymbolicTensor;
    const probs = tf.layers.activation({ activation: 'softmax', name: PROBS_LAYER }).apply(logits) as tf.SymbolicTensor;
    head = tf.model({ inputs: input, outputs: probs, name: 'head' });
  } else {
    const backbone = await loadLayersBackbone(spec);
    try {
      const cutIndex = backbone.layers.findIndex((l) => l.name === spec.cut);
      if (cutIndex < 0) throw new Error(`backbone ${spec.name} has no layer ${JSON.stringify(spec.cut)}`);
      const input = tf.input({ shape: spec.outputShape, name: 'activations' });
      const outputs = new Map<string, tf.SymbolicTensor>([[spec.cut, input]]);
      let last: tf.SymbolicTensor = input;
      const top = backbone.layers.slice(cutIndex + 1);
      for (let i = 0; i < top.length; i++) {
        const layer = top[i];
        const inbound = layer.inboundNodes[0].inboundLayers.map((l) => {
          const t = outputs.get(l.name);
          if (!t) throw new Error(`cannot cut ${spec.name} at ${spec.cut}: layer ${layer.name} also reads ${l.name} below the cut`);
          return t;
        });
        const x = inbound.length === 1 ? inbound[0] : inbound;
        const bnAfter = foldableBatchNorm(top, i);
        if (layer.getClassName() === 'DepthwiseConv2D' && bnAfter) {
          const folded = foldedDepthwise(layer, bnAfter);
          last = folded.layer.apply(x) as tf.SymbolicTensor;
          folded.layer.setWeights(folded.weights());
          outputs.set(layer.name, last);
          outputs.set(bnAfter.name, last);
          i++;
          continue;
        }
        const dense = asDense(layer);
        if (dense) {
          // A 1×1 conv followed only by its BatchNormalization folds into one Dense layer.
          const bn = foldableBatchNorm(top, i);
          last = dense.apply(x) as tf.SymbolicTensor;
          dense.setWeights(tf.tidy(() => denseWeights(layer, bn)));
          outputs.set(layer.name, last);
          if (bn) {
            outputs.set(bn.name, last);
            i++;
          }
          continue;
        }
        last = layer.apply(x) as tf.SymbolicTensor;
        outputs.set(layer.name, last);
      }
      const logits = dense().apply(last) as tf.SymbolicTensor;
      const probs = tf.layers.activation({ activation: 'softmax', name: PROBS_LAYER }).apply(logits) as tf.SymbolicTensor;
      // The new model shares layer objects with the loaded backbone; a save/load round
      // trip gives it its own copies of the weights (then the backbone can be freed).
      head = await cloneModel(tf.model({ inputs: input, outputs: probs, name: 'head' }));
    } finally {
      backbone.dispose();
    }
  }
  return partsOf(head);
}

/** Splits a (built or loaded) head into the pieces the training loop drives. */
export function partsOf(head: tf.LayersModel): HeadParts {
  const logits = head.getLayer(LOGITS_LAYER);
  const beforeLogits = logits.inboundNodes[0].inboundLayers[0];
  const pooledOut = beforeLogits.output as tf.SymbolicTensor;
  const pooled = tf.model({ inputs: head.inputs, outputs: pooledOut });
  const topLayers = head.layers.filter((l) => l !== logits && l.name !== PROBS_LAYER && l.getClassName() !== 'InputLayer');
  return { head, pooled, logits, topLayers, featureDim: pooledOut.shape[pooledOut.shape.length - 1] as number };
}

export interface WarmStartReport {
  copiedLayers: string[];
  keptClasses: number;
  newClasses: string[];
}

/**
 * Initialises `target` (labels `labels`) from a champion head (labels `parentLabels`):
 * layers with the same name and shapes are copied; the logits layer is copied column by
 * column by label NAME, so classes keep their trained weights wherever they sit in the
 * grown label map, and a breed the champion never saw keeps its fresh initialisation.
 */
export function warmStart(target: HeadParts, labels: string[], parent: tf.LayersModel, parentLabels: string[]): WarmStartReport {
  const copied: string[] = [];
  for (const layer of target.head.layers) {
    if (layer.name === LOGITS_LAYER || layer.weights.length === 0) continue;
    let src: tf.layers.Layer;
    try {
      src = parent.getLayer(layer.name);
    } catch {
      continue;
    }
    const from = src.getWeights();
    const to = layer.getWeights();
    if (from.length === to.length && from.every((w, i) => w.shape.join() === to[i].shape.join())) {
      layer.setWeights(from);
      copied.push(layer.name);
    }
  }
  const srcLogits = parent.getLayer(LOGITS_LAYER);
  const [srcKernel, srcBias] = srcLogits.getWeights();
  const [kernel, bias] = target.logits.getWeights();
  if (srcKernel.shape[0] !== kernel.shape[0]) {
    return { copiedLayers: copied, keptClasses: 0, newClasses: labels };
  }
  const d = kernel.shape[0];
  const k = labels.length;
  const kOld = parentLabels.length;
  const kv = kernel.dataSync().slice();
  const bv = bias.dataSync().slice();
  const skv = srcKernel.dataSync();
  const sbv = srcBias.dataSync();
  const parentIndex = new Map(parentLabels.map((l, i) => [l, i]));
  const newClasses: string[] = [];
  let kept = 0;
  labels.forEach((label, j) => {
    const i = parentIndex.get(label);
    if (i === undefined) {
      newClasses.push(label);
      return;
    }
    kept++;
    for (let r = 0; r < d; r++) kv[r * k + j] = skv[r * kOld + i];
    bv[j] = sbv[i];
  });
  tf.tidy(() => target.logits.setWeights([tf.tensor2d(kv, [d, k]), tf.tensor1d(bv)]));
  copied.push(LOGITS_LAYER);
  return { copiedLayers: copied, keptClasses: kept, newClasses };
}
