import { tf } from '../core/tf/backend';

/**
 * The WASM backend multiplies transposed operands (`matMul(a, b, transposeA, transposeB)`,
 * which every matMul GRADIENT uses) about 15× slower than plain ones: measured here,
 * 1,281 ms for x^T·dy of [1568×112]^T·[1568×1280] against 77 ms for an explicit transpose
 * followed by a plain product. This wraps the backend's BatchMatMul kernel so transposed
 * operands are transposed first (cheap, linear) and the fast kernel does the product.
 * Same numbers, far less time in training's backward passes. Idempotent.
 */
let installed = false;

type KernelFn = (args: { inputs: tf.NamedTensorMap; backend: unknown; attrs: Record<string, unknown> }) => tf.TensorInfo;

export function installFastTransposedMatMul(): boolean {
  if (installed || tf.getBackend() !== 'wasm') return installed;
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!original || !transpose) return false;
  const matmul = original.kernelFunc as unknown as KernelFn;
  const transposeFn = transpose.kernelFunc as unknown as KernelFn;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({
    ...original,
    kernelFunc: ((args: { inputs: tf.NamedTensorMap; backend: { disposeData(id: unknown): void }; attrs: Record<string, unknown> }) => {
      const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
      if (!transposeA && !transposeB) return matmul(args);
      const swapLast = (t: tf.TensorInfo): tf.TensorInfo => {
        const perm = t.shape.map((_, i) => i);
        const r = perm.length;
        [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
        return transposeFn({ inputs: { x: t as tf.Tensor }, backend: args.backend, attrs: { perm } });
      };
      const temps: tf.TensorInfo[] = [];
      let { a, b } = args.inputs as unknown as { a: tf.TensorInfo; b: tf.TensorInfo };
      if (transposeA) temps.push((a = swapLast(a)));
      if (transposeB) temps.push((b = swapLast(b)));
      try {
        return matmul({
          inputs: { a: a as tf.Tensor, b: b as tf.Tensor },
          backend: args.backend,
          attrs: { ...args.attrs, transposeA: false, transposeB: false },
        });
      } finally {
        for (const t of temps) args.backend.disposeData(t.dataId);
      }
    }) as unknown as tf.KernelFunc,
  });
  installed = true;
  return true;
}
