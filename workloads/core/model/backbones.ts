import * as path from 'node:path';
import type { BackboneName } from '../config/schema';
import { tf } from '../tf/backend';
import { handlerFor } from './model-io';

/**
 * Backbones behind one interface. A model version is a frozen (or partly fine-tuned)
 * backbone "trunk" plus a small trained "head"; the trunk is described by a
 * {@link BackboneSpec} so a serving process loads it once and swaps only heads.
 */
export interface BackboneSpec {
  name: BackboneName;
  /** Where the backbone's model.json is (path, file:// or https://). */
  url: string;
  /** Pixel range the backbone expects. */
  inputRange: [number, number];
  inputSize: number;
  /**
   * Name of the layer whose output feeds the head, when the top of a layers backbone was
   * fine-tuned and now lives in the head. `null`: the backbone's final feature vector.
   */
  cut: string | null;
  /** Shape of one trunk output (without the batch dimension). */
  outputShape: number[];
}

export interface BackboneInfo {
  name: BackboneName;
  kind: 'layers' | 'graph';
  inputRange: [number, number];
  inputSize: number;
  featureDim: number;
  /** Default location, used when config `model.backboneUrl` is empty. */
  defaultUrl: string;
  /** Whether the top layers can be fine-tuned (layers models only). */
  fineTunable: boolean;
}

/** Repository root → ../shared, where the offline backbone lives next to the clone. */
const SHARED_MODELS = path.resolve(__dirname, '../../../../shared/models');

export const BACKBONES: Record<BackboneName, BackboneInfo> = {
  mobilenet_v2_035: {
    name: 'mobilenet_v2_035',
    kind: 'layers',
    inputRange: [-1, 1],
    inputSize: 224,
    featureDim: 1280,
    defaultUrl: path.join(SHARED_MODELS, 'mobilenet_v2_035/model.json'),
    fineTunable: true,
  },
  mobilenet_v3_small: {
    name: 'mobilenet_v3_small',
    kind: 'graph',
    inputRange: [0, 1],
    inputSize: 224,
    featureDim: 1024,
    defaultUrl: 'https://tfhub.dev/google/tfjs-model/imagenet/mobilenet_v3_small_100_224/feature_vector/5/default/1',
    fineTunable: false,
  },
};

/** The spec of a backbone's plain feature-vector trunk. */
export function baseSpec(name: BackboneName, url = ''): BackboneSpec {
  const info = BACKBONES[name];
  return {
    name,
    url: url || info.defaultUrl,
    inputRange: info.inputRange,
    inputSize: info.inputSize,
    cut: null,
    outputShape: [info.featureDim],
  };
}

/** A loaded trunk: uint8 RGB images in, activations (features, or the cut layer's output) out. */
export interface Trunk {
  spec: BackboneSpec;
  /** `images`: int32/float32 RGB in [0, 255], shape [n, size, size, 3]. */
  apply(images: tf.Tensor4D): tf.Tensor;
  /** For fine-tuning: the full layers backbone (null for graph models). */
  layersModel: tf.LayersModel | null;
  dispose(): void;
}

/** Scales [0, 255] RGB into the backbone's input range. */
export function scaleInput(images: tf.Tensor4D, range: [number, number]): tf.Tensor4D {
  return tf.tidy(() => {
    const [lo, hi] = range;
    return images
      .toFloat()
      .mul((hi - lo) / 255)
      .add(lo) as tf.Tensor4D;
  });
}

export async function loadTrunk(spec: BackboneSpec): Promise<Trunk> {
  const info = BACKBONES[spec.name];
  if (!info) throw new Error(`unknown backbone ${JSON.stringify(spec.name)}; backbones are ${Object.keys(BACKBONES).join(', ')}`);
  if (info.kind === 'graph') {
    const graph = await tf.loadGraphModel(handlerFor(spec.url), /^https:\/\/tfhub\.dev\//.test(spec.url) ? { fromTFHub: true } : {});
    return {
      spec,
      layersModel: null,
      apply: (images) => tf.tidy(() => graph.predict(scaleInput(images, spec.inputRange)) as tf.Tensor),
      dispose: () => graph.dispose(),
    };
  }
  const full = await tf.loadLayersModel(handlerFor(spec.url));
  const backbone = extractLayersBackbone(full);
  const trunk =
    spec.cut === null ? backbone : tf.model({ inputs: backbone.inputs, outputs: backbone.getLayer(spec.cut).output as tf.SymbolicTensor });
  return {
    spec,
    layersModel: backbone,
    apply: (images) => tf.tidy(() => trunk.predict(scaleInput(images, spec.inputRange)) as tf.Tensor),
    dispose: () => full.dispose(),
  };
}

/**
 * The offline MobileNetV2 file is a Teachable Machine export: a Sequential whose
 * layers[0] is the backbone (ending in global average pooling) and layers[1] a toy head.
 * A plain backbone file (no wrapper) is used as is.
 */
export function extractLayersBackbone(model: tf.LayersModel): tf.LayersModel {
  let backbone = model;
  const first = model.layers[0];
  if (model.layers.length > 1 && first instanceof tf.LayersModel) backbone = first;
  // The backbone itself may be a Sequential [functional MobileNet, global pooling];
  // flatten it into one functional model so inner layers (block_16_project, ...) can be
  // addressed by name for cutting and fine-tuning.
  const inner = backbone.layers[0];
  if (backbone.layers.length === 2 && inner instanceof tf.LayersModel) {
    const pooled = backbone.layers[1].apply(inner.outputs[0]) as tf.SymbolicTensor;
    return tf.model({ inputs: inner.inputs, outputs: pooled, name: 'backbone' });
  }
  return backbone;
}
