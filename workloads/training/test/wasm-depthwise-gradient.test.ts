import { selectBackend, tf } from '../../core/tf/backend';
import { depthwiseTrainable, installDepthwiseGradient } from '../wasm-depthwise-gradient';

/**
 * The composed depthwise gradient (for WASM, which has no native one) must equal the
 * native gradient of the CPU backend, for the geometries MobileNet uses: 3×3 stride 1
 * SAME, and stride 2 VALID after Keras' explicit zero padding, plus odd/even SAME cases.
 */
type Case = { name: string; h: number; w: number; c: number; stride: 1 | 2; pad: 'same' | 'valid'; k?: number };
const CASES: Case[] = [
  { name: '3×3 stride 1 same (blocks at 7×7)', h: 7, w: 7, c: 6, stride: 1, pad: 'same' },
  { name: '3×3 stride 2 valid on a zero-padded 15×15 (block_13)', h: 15, w: 15, c: 5, stride: 2, pad: 'valid' },
  { name: '3×3 stride 2 same, even input', h: 8, w: 10, c: 4, stride: 2, pad: 'same' },
  { name: '3×3 stride 2 same, odd input', h: 9, w: 7, c: 3, stride: 2, pad: 'same' },
  { name: '5×5 stride 1 valid', h: 9, w: 9, c: 2, stride: 1, pad: 'valid', k: 5 },
];

function gradients(c: Case, x: Float32Array, w: Float32Array, up: Float32Array): { dx: Float32Array; dw: Float32Array } {
  const k = c.k ?? 3;
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, [2, c.h, c.w, c.c]);
    const wt = tf.tensor4d(w, [k, k, c.c, 1]);
    const f = (a: tf.Tensor4D, b: tf.Tensor4D) => {
      const y = tf.depthwiseConv2d(a, b, c.stride, c.pad);
      // A weighted sum, so every output position gets a different upstream gradient.
      return tf.sum(tf.mul(y, tf.tensor(up.subarray(0, y.size), y.shape)));
    };
    const [dx, dw] = tf.grads(f as (...args: tf.Tensor[]) => tf.Tensor)([xt, wt]);
    return { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

describe('depthwise convolution gradient composed for WASM', () => {
  beforeAll(async () => {
    await selectBackend(() => undefined);
  });
  afterAll(async () => {
    await tf.setBackend('wasm');
  });

  it.each(CASES)('$name: equals the CPU backend gradient', async (c) => {
    const k = c.k ?? 3;
    const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.31 + i * 12.9898) * 0.9);
    const x = rand(2 * c.h * c.w * c.c, 1);
    const w = rand(k * k * c.c, 2);
    const up = rand(2 * c.h * c.w * c.c, 3);

    await tf.setBackend('cpu');
    const expected = gradients(c, x, w, up);
    await tf.setBackend('wasm');
    expect(tf.getKernel('DepthwiseConv2dNativeBackpropFilter', 'wasm')).toBeUndefined();
    installDepthwiseGradient();
    expect(depthwiseTrainable()).toBe(true);
    const actual = gradients(c, x, w, up);

    expect(actual.dx).toHaveLength(expected.dx.length);
    expect(actual.dw).toHaveLength(expected.dw.length);
    const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    expect(maxDiff(actual.dx, expected.dx)).toBeLessThan(1e-4);
    expect(maxDiff(actual.dw, expected.dw)).toBeLessThan(1e-4);
    // Not trivially zero.
    expect(Math.max(...expected.dx.map(Math.abs))).toBeGreaterThan(0.1);

    // The CPU backend keeps its native kernels after the override.
    await tf.setBackend('cpu');
    const again = gradients(c, x, w, up);
    expect(maxDiff(again.dw, expected.dw)).toBe(0);
  });

  it('names what it cannot do', async () => {
    await tf.setBackend('wasm');
    installDepthwiseGradient();
    const f = () =>
      tf.tidy(() => {
        const x = tf.ones([1, 6, 6, 2]) as tf.Tensor4D;
        const w = tf.ones([3, 3, 2, 2]) as tf.Tensor4D;
        return tf.grad((a: tf.Tensor) => tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, w, 1, 'same')))(x);
      });
    expect(f).toThrow(/channel multiplier 2 is not supported/);
  });
});
