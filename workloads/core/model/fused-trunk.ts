import { scaleInput, Trunk } from './backbones';
import { tf } from '../tf/backend';

/**
 * Inference-time speed-up for layers backbones (MobileNetV2), used by the inference workers
 * and the training feature extractor (frozen trunk): a Keras model run layer by
 * layer executes Conv → BatchNormalization → ReLU6 as three kernels. At inference the
 * batch-norm is an affine map, so it folds into the convolution's weights and bias, and
 * the ReLU6 into the fused kernel's activation: one tf.fused.conv2d / depthwiseConv2d per
 * block. Same arithmetic up to float rounding (checked against the unfused trunk when a
 * model is loaded). Returns undefined when the graph has a layer this executor does not
 * know, and the caller keeps the plain trunk.
 */

type Op = (values: Map<string, tf.Tensor>) => void;

interface LayerLike {
  name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  getWeights(): tf.Tensor[];
  inboundNodes: Array<{ inboundLayers: LayerLike[] }>;
}

export function fuseTrunk(trunk: Trunk): Trunk | undefined {
  const model = trunk.layersModel;
  if (!model || trunk.spec.cut !== null) return undefined;
  const layers = model.layers as unknown as LayerLike[];
  const names = new Set(layers.map((l) => l.name));
  // A layer reused in several models (the pooling layer of the original Sequential) has one
  // inbound node per use: take the one wired inside this model.
  const inputsOf = (l: LayerLike) =>
    (l.inboundNodes.find((n) => n.inboundLayers.length > 0 && n.inboundLayers.every((x) => names.has(x.name)))?.inboundLayers ?? []).map(
      (x) => x.name,
    );
  const consumers = new Map<string, string[]>();
  for (const l of layers) for (const i of inputsOf(l)) consumers.set(i, [...(consumers.get(i) ?? []), l.name]);
  const byName = new Map(layers.map((l) => [l.name, l]));
  const only = (name: string): LayerLike | undefined => {
    const c = consumers.get(name) ?? [];
    return c.length === 1 ? byName.get(c[0]) : undefined;
  };

  const ops: Op[] = [];
  const owned: tf.Tensor[] = [];
  const skip = new Set<string>();
  let inputName = '';
  const bail = (...extra: tf.Tensor[]): undefined => {
    [...owned, ...extra].forEach((t) => t.dispose());
    return undefined;
  };
  for (const layer of layers) {
    if (skip.has(layer.name)) continue;
    const cls = layer.getClassName();
    const cfg = layer.getConfig();
    const [src] = inputsOf(layer);
    switch (cls) {
      case 'InputLayer':
        inputName = layer.name;
        break;
      case 'ZeroPadding2D': {
        const [[t, b], [l, r]] = cfg.padding as number[][];
        ops.push((v) =>
          v.set(
            layer.name,
            tf.pad(v.get(src)!, [
              [0, 0],
              [t, b],
              [l, r],
              [0, 0],
            ]),
          ),
        );
        break;
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const depthwise = cls === 'DepthwiseConv2D';
        const [kernel, convBias] = layer.getWeights();
        // Copies only: the plain trunk may be disposed once this one is checked.
        let filter = kernel.clone();
        let bias: tf.Tensor1D = convBias ? (convBias.clone() as tf.Tensor1D) : tf.zeros([depthwise ? kernel.shape[2]! : kernel.shape[3]!]);
        let out = layer.name;
        const bn = only(layer.name);
        if (bn?.getClassName() === 'BatchNormalization') {
          const bcfg = bn.getConfig();
          if (bcfg.center === false || bcfg.scale === false) return bail(filter, bias);
          const [gamma, beta, mean, variance] = bn.getWeights();
          const scale = tf.tidy(() => gamma.div(variance.add(Number(bcfg.epsilon ?? 1e-3)).sqrt()));
          filter.dispose();
          filter = tf.tidy(() => kernel.mul(depthwise ? scale.reshape([1, 1, -1, 1]) : scale.reshape([1, 1, 1, -1])));
          const convOnly = bias;
          bias = tf.tidy(() => beta.add(convOnly.sub(mean).mul(scale))) as tf.Tensor1D;
          convOnly.dispose();
          scale.dispose();
          skip.add(bn.name);
          out = bn.name;
        } else if (cfg.activation !== 'linear') return bail(filter, bias);
        let activation: 'linear' | 'relu6' | 'relu' = 'linear';
        const act = only(out);
        if (act?.getClassName() === 'ReLU') {
          const acfg = act.getConfig();
          if ((acfg.negative_slope ?? acfg.negativeSlope ?? 0) !== 0 || (acfg.threshold ?? 0) !== 0) return bail(filter, bias);
          const max = acfg.max_value ?? acfg.maxValue;
          activation = max === 6 ? 'relu6' : max == null ? 'relu' : 'linear';
          if (activation !== 'linear') {
            skip.add(act.name);
            out = act.name;
          }
        }
        owned.push(filter, bias);
        const strides = cfg.strides as [number, number];
        const pad = cfg.padding as 'same' | 'valid';
        const name = out;
        ops.push((v) => {
          const x = v.get(src)! as tf.Tensor4D;
          v.set(
            name,
            depthwise
              ? tf.fused.depthwiseConv2d({ x, filter: filter as tf.Tensor4D, strides, pad, bias, activation })
              : tf.fused.conv2d({ x, filter: filter as tf.Tensor4D, strides, pad, bias, activation }),
          );
        });
        break;
      }
      case 'Add': {
        const ins = inputsOf(layer);
        ops.push((v) =>
          v.set(
            layer.name,
            ins.map((n) => v.get(n)!).reduce((a, b) => tf.add(a, b)),
          ),
        );
        break;
      }
      case 'GlobalAveragePooling2D':
        ops.push((v) => v.set(layer.name, tf.mean(v.get(src)!, [1, 2])));
        break;
      default:
        return bail();
    }
  }
  const finalName = model.outputs[0].sourceLayer.name;
  const apply = (images: tf.Tensor4D): tf.Tensor =>
    tf.tidy(() => {
      const values = new Map<string, tf.Tensor>([[inputName, scaleInput(images, trunk.spec.inputRange)]]);
      for (const op of ops) op(values);
      return values.get(finalName)!;
    });
  return {
    spec: trunk.spec,
    layersModel: trunk.layersModel,
    apply,
    // Never cut (see above): the activations are the features.
    applyWithFeatures: (images) =>
      tf.tidy(() => {
        const features = apply(images);
        return { activations: features, features };
      }),
    // Only the folded weights: the plain trunk stays owned by the TrunkCache that loaded it.
    dispose: () => owned.forEach((t) => t.dispose()),
  };
}

/**
 * The fused trunk when it computes what the plain one does (max difference on a random
 * image within 1e-3 of the output's scale), else the plain trunk.
 */
export function fuseTrunkChecked(trunk: Trunk): { trunk: Trunk; fused: boolean } {
  const fused = fuseTrunk(trunk);
  if (!fused) return { trunk, fused: false };
  const size = trunk.spec.inputSize;
  const ok = tf.tidy(() => {
    const x = tf.randomUniform([1, size, size, 3], 0, 255, 'int32', 7) as tf.Tensor4D;
    const a = trunk.apply(x);
    const b = fused.apply(x);
    const diff = a.sub(b).abs().max().dataSync()[0];
    const scale = a.abs().max().dataSync()[0];
    return diff <= 1e-3 * Math.max(scale, 1);
  });
  if (!ok) {
    fused.dispose();
    return { trunk, fused: false };
  }
  return { trunk: fused, fused: true };
}
