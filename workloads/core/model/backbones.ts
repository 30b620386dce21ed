import { tf } from '../tf/backend';
import { BackboneSpec, backbonePart, infoOf } from './catalog';
import { handlerFor, withInputSize } from './model-io';

/**
 * Loading backbones with TensorFlow.js. What the backbones are, and where their files
 * live, is in ./catalog.ts (free of TensorFlow.js, so the inference service's main thread
 * can read it without loading tfjs).
 */
export * from './catalog';

/** A loaded trunk: uint8 RGB images in, activations (features, or the cut layer's output) out. */
export interface Trunk {
  spec: BackboneSpec;
  /** `images`: int32/float32 RGB in [0, 255], shape [n, size, size, 3]. */
  apply(images: tf.Tensor4D): tf.Tensor;
  /**
   * The activations {@link apply} returns and, from the same forward pass, the backbone's
   * pooled feature vector (what an ImageNet head reads). The same tensor twice when the
   * trunk is not cut.
   */
  applyWithFeatures(images: tf.Tensor4D): { activations: tf.Tensor; features: tf.Tensor };
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

/** A model loader for one of our backbone files: our own folder-shipped backbones are read at the configured input size. */
function loaderFor(spec: BackboneSpec, url: string): tf.io.IOHandler | string {
  const handler = handlerFor(url);
  return infoOf(spec.name).files && typeof handler !== 'string' ? withInputSize(handler, spec.inputSize) : handler;
}

export async function loadTrunk(spec: BackboneSpec): Promise<Trunk> {
  const info = infoOf(spec.name);
  if (info.kind === 'graph') {
    const url = backbonePart(spec, 'features')!;
    const graph = await tf.loadGraphModel(loaderFor(spec, url), /^https:\/\/tfhub\.dev\//.test(url) ? { fromTFHub: true } : {});
    // A cut graph trunk runs up to the cut layer's node: the graph's node names are the
    // layers model's layer names (both were built from the same network).
    const outputs = spec.cut === null ? graph.outputNodes : [spec.cut, graph.outputNodes[0]];
    const run = (images: tf.Tensor4D): tf.Tensor[] => {
      const out = graph.execute(scaleInput(images, spec.inputRange), outputs);
      return Array.isArray(out) ? out : [out];
    };
    return {
      spec,
      layersModel: null,
      apply: (images) => tf.tidy(() => run(images)[0]),
      applyWithFeatures: (images) =>
        tf.tidy(() => {
          const [activations, features] = run(images);
          return { activations, features: features ?? activations };
        }),
      dispose: () => graph.dispose(),
    };
  }
  const full = await tf.loadLayersModel(loaderFor(spec, backbonePart(spec, 'layers')!));
  const backbone = extractLayersBackbone(full);
  const trunk =
    spec.cut === null
      ? backbone
      : tf.model({ inputs: backbone.inputs, outputs: [backbone.getLayer(spec.cut).output as tf.SymbolicTensor, backbone.outputs[0]] });
  const run = (images: tf.Tensor4D): tf.Tensor[] => {
    const out = trunk.predict(scaleInput(images, spec.inputRange));
    return Array.isArray(out) ? out : [out];
  };
  return {
    spec,
    layersModel: backbone,
    apply: (images) => tf.tidy(() => run(images)[0]),
    applyWithFeatures: (images) =>
      tf.tidy(() => {
        const [activations, features] = run(images);
        return { activations, features: features ?? activations };
      }),
    dispose: () => full.dispose(),
  };
}

/** The backbone's ImageNet classifier (features → 1001 softmax probabilities), or null when it has none. */
export async function loadImagenetHead(spec: Pick<BackboneSpec, 'name' | 'url'>): Promise<tf.LayersModel | null> {
  const url = backbonePart(spec, 'imagenetHead');
  return url ? tf.loadLayersModel(handlerFor(url)) : null;
}

/** The backbone's trainable layers model at the spec's input size (for fine-tuning). */
export async function loadLayersBackbone(spec: Pick<BackboneSpec, 'name' | 'url' | 'inputSize'>): Promise<tf.LayersModel> {
  const url = backbonePart(spec, 'layers');
  if (!url) throw new Error(`backbone ${spec.name} is a graph model only: its layers cannot be fine-tuned`);
  return extractLayersBackbone(await tf.loadLayersModel(loaderFor(spec as BackboneSpec, url)));
}

/**
 * The offline MobileNetV2-0.35 file is a Teachable Machine export: a Sequential whose
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
