import { parentPort, workerData } from 'node:worker_threads';
import { loadTrunk, Trunk } from '../../core/model/backbones';
import { fuseTrunkChecked } from '../../core/model/fused-trunk';
import type { BackboneSpec } from '../../core/model/backbones';
import { decodeRgb } from '../../core/images/normalize-image';
import { selectBackend, tf } from '../../core/tf/backend';
import { applyAugmentations, Augmentation } from './augment';

/**
 * One feature-extraction worker: its own TensorFlow.js backend (WASM is single-threaded
 * per thread) and its own copy of the trunk. Receives batches of JPEGs plus the
 * augmentation to apply to each, answers with the trunk activations.
 */
export interface ExtractRequest {
  id: number;
  jpegs: Uint8Array[];
  augs: Augmentation[];
}
export type ExtractResponse = { id: number; ok: true; data: Float32Array } | { id: number; ok: false; error: string };
export type WorkerReady = { ready: true; backend: string } | { ready: false; error: string };

const { spec } = workerData as { spec: BackboneSpec };
const port = parentPort;
if (!port) throw new Error('extract-worker must run in a worker thread');

let trunk: Trunk;

async function extract(req: ExtractRequest): Promise<Float32Array> {
  const size = spec.inputSize;
  const rgb = await Promise.all(req.jpegs.map((j) => decodeRgb(Buffer.from(j.buffer, j.byteOffset, j.byteLength), size)));
  const pixels = new Uint8Array(rgb.length * size * size * 3);
  rgb.forEach((b, i) => pixels.set(b, i * size * size * 3));
  const out = tf.tidy(() => {
    const images = tf.tensor4d(pixels, [rgb.length, size, size, 3], 'int32');
    return trunk.apply(applyAugmentations(images, req.augs));
  });
  const data = (await out.data()) as Float32Array;
  out.dispose();
  return data;
}

(async () => {
  try {
    const backend = await selectBackend(() => undefined);
    // Batch-norm folded into the convolutions (checked against the plain trunk; ~3× faster
    // on WASM): the same arithmetic the inference service serves with.
    const plain = await loadTrunk(spec);
    const served = fuseTrunkChecked(plain);
    trunk = served.trunk;
    port.postMessage({ ready: true, backend } satisfies WorkerReady);
  } catch (err) {
    port.postMessage({ ready: false, error: (err as Error).message } satisfies WorkerReady);
    return;
  }
  port.on('message', (req: ExtractRequest) => {
    extract(req).then(
      (data) => port.postMessage({ id: req.id, ok: true, data } satisfies ExtractResponse, [data.buffer as ArrayBuffer]),
      (err: Error) => port.postMessage({ id: req.id, ok: false, error: err.message } satisfies ExtractResponse),
    );
  });
})();
