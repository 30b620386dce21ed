import { tf } from '../core/tf/backend';

/**
 * The WASM backend has a depthwise convolution but not its two gradient kernels
 * (DepthwiseConv2dNativeBackpropInput / ...Filter), so no depthwise layer of MobileNet
 * could be fine-tuned here. This replaces the gradient of DepthwiseConv2dNative with one
 * composed from kernels WASM does have, for backends that lack the native ones:
 *
 *  - filter: dW[a,b,c] = Σ_{n,i,j} xpad[n, s·i+a, s·j+b, c] · dy[n,i,j,c] — one strided
 *    slice, product and sum per kernel tap (9 for 3×3);
 *  - input: the transposed convolution, as the backend's own (fast) depthwise forward
 *    kernel over dy dilated by the stride and padded by k−1, with the filter flipped.
 *
 * Channel multiplier 1 and dilation 1 (every MobileNet depthwise layer); other shapes
 * fail with a message saying so. Backends with native kernels (tfjs-node, cpu) keep them.
 * Idempotent; process-wide (TensorFlow.js keeps one gradient registry).
 */
const KERNEL = 'DepthwiseConv2dNative';
let installed = false;

type Pad = 'same' | 'valid' | number | number[][];
interface Attrs {
  strides: number | [number, number];
  pad: Pad;
  dilations?: number | [number, number] | null;
  dimRoundingMode?: 'floor' | 'round' | 'ceil' | null;
  dataFormat?: string | null;
}

export function installDepthwiseGradient(): void {
  if (installed) return;
  tf.registerGradient({
    kernelName: KERNEL,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const g = dy as tf.Tensor4D;
      const a = attrs as unknown as Attrs;
      if (hasNativeKernels()) {
        const common = {
          strides: a.strides,
          pad: a.pad,
          dilations: a.dilations ?? 1,
          ...(a.dimRoundingMode ? { dimRoundingMode: a.dimRoundingMode } : {}),
        } as unknown as tf.NamedAttrMap;
        return {
          x: () =>
            tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: g, filter }, { ...common, inputShape: x.shape }) as tf.Tensor,
          filter: () =>
            tf
              .engine()
              .runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy: g }, { ...common, filterShape: filter.shape }) as tf.Tensor,
        };
      }
      const geometry = geometryOf(x.shape, filter.shape, g.shape, a);
      return { x: () => inputGradient(g, filter, geometry), filter: () => filterGradient(x, g, geometry) };
    },
  });
  installed = true;
}

/** Whether the current backend computes depthwise gradients (natively or through this module). */
export function depthwiseTrainable(): boolean {
  return installed || hasNativeKernels();
}

function hasNativeKernels(): boolean {
  const backend = tf.getBackend();
  return (
    tf.getKernel('DepthwiseConv2dNativeBackpropFilter', backend) !== undefined &&
    tf.getKernel('DepthwiseConv2dNativeBackpropInput', backend) !== undefined
  );
}

interface Geometry {
  inH: number;
  inW: number;
  kH: number;
  kW: number;
  stride: number;
  outH: number;
  outW: number;
  /** Zero padding [top, bottom, left, right] the forward pass applied. */
  pads: [number, number, number, number];
}

function geometryOf(xShape: number[], filterShape: number[], dyShape: number[], a: Attrs): Geometry {
  const [, inH, inW] = xShape;
  const [kH, kW, , multiplier] = filterShape;
  const [, outH, outW] = dyShape;
  const strides = typeof a.strides === 'number' ? [a.strides, a.strides] : a.strides;
  const dilations = a.dilations == null ? [1, 1] : typeof a.dilations === 'number' ? [a.dilations, a.dilations] : a.dilations;
  const unsupported = (what: string) =>
    new Error(
      `depthwise convolution gradient on the ${tf.getBackend()} backend: ${what} is not supported (supported: channel multiplier 1, dilation 1, equal strides, NHWC)`,
    );
  if (multiplier !== 1) throw unsupported(`channel multiplier ${multiplier}`);
  if (dilations[0] !== 1 || dilations[1] !== 1) throw unsupported(`dilation ${dilations.join('×')}`);
  if (strides[0] !== strides[1]) throw unsupported(`strides ${strides.join('×')}`);
  if (a.dataFormat != null && a.dataFormat !== 'NHWC') throw unsupported(`data format ${a.dataFormat}`);
  const stride = strides[0];
  let pads: [number, number, number, number];
  if (a.pad === 'valid') pads = [0, 0, 0, 0];
  else if (a.pad === 'same') {
    // TensorFlow's SAME: the extra row/column (odd total) goes to the bottom/right.
    const totalH = Math.max((outH - 1) * stride + kH - inH, 0);
    const totalW = Math.max((outW - 1) * stride + kW - inW, 0);
    pads = [Math.floor(totalH / 2), totalH - Math.floor(totalH / 2), Math.floor(totalW / 2), totalW - Math.floor(totalW / 2)];
  } else if (typeof a.pad === 'number') pads = [a.pad, a.pad, a.pad, a.pad];
  else pads = [a.pad[1][0], a.pad[1][1], a.pad[2][0], a.pad[2][1]];
  return { inH, inW, kH, kW, stride, outH, outW, pads };
}

function filterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, g: Geometry): tf.Tensor4D {
  return tf.tidy(() => {
    const [top, bottom, left, right] = g.pads;
    const xp = tf.pad(x, [
      [0, 0],
      [top, bottom],
      [left, right],
      [0, 0],
    ]);
    const [n, , , c] = x.shape;
    const taps: tf.Tensor1D[] = [];
    for (let a = 0; a < g.kH; a++) {
      for (let b = 0; b < g.kW; b++) {
        const window = tf.stridedSlice(
          xp,
          [0, a, b, 0],
          [n, a + (g.outH - 1) * g.stride + 1, b + (g.outW - 1) * g.stride + 1, c],
          [1, g.stride, g.stride, 1],
        );
        taps.push(tf.sum(tf.mul(window, dy), [0, 1, 2]) as tf.Tensor1D);
      }
    }
    return tf.stack(taps).reshape([g.kH, g.kW, c, 1]) as tf.Tensor4D;
  });
}

function inputGradient(dy: tf.Tensor4D, filter: tf.Tensor4D, g: Geometry): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, , , c] = dy.shape;
    // Put dy back on the stride grid: zeros between its rows and columns.
    let up: tf.Tensor4D = dy;
    if (g.stride > 1) {
      const s = g.stride;
      up = tf
        .pad(dy.reshape([n, g.outH, 1, g.outW, 1, c]), [
          [0, 0],
          [0, 0],
          [0, s - 1],
          [0, 0],
          [0, s - 1],
          [0, 0],
        ])
        .reshape([n, g.outH * s, g.outW * s, c])
        .slice([0, 0, 0, 0], [n, (g.outH - 1) * s + 1, (g.outW - 1) * s + 1, c]) as tf.Tensor4D;
    }
    // Full correlation with the flipped filter gives the gradient of the padded input;
    // rows/columns the forward pass never read (beyond the last window) get zeros.
    const [top, bottom, left, right] = g.pads;
    const paddedH = g.inH + top + bottom;
    const paddedW = g.inW + left + right;
    const coveredH = (g.outH - 1) * g.stride + g.kH;
    const coveredW = (g.outW - 1) * g.stride + g.kW;
    const spread = tf.pad(up, [
      [0, 0],
      [g.kH - 1, g.kH - 1 + Math.max(0, paddedH - coveredH)],
      [g.kW - 1, g.kW - 1 + Math.max(0, paddedW - coveredW)],
      [0, 0],
    ]);
    const flipped = tf.reverse(filter, [0, 1]) as tf.Tensor4D;
    const dxPadded = tf.depthwiseConv2d(spread, flipped, 1, 'valid');
    return dxPadded.slice([0, top, left, 0], [n, g.inH, g.inW, c]) as tf.Tensor4D;
  });
}
