import { parentPort, workerData } from 'node:worker_threads';
import type { BackboneSpec, Trunk } from '../../core/model/backbones';
import { type BackendName, selectBackend } from '../../core/tf/backend';
import type { Augmentation } from './augment';
import { extractBatch, loadExtractionTrunk } from './extract-batch';

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
/** `backend`: the one the calling thread found (a worker never retries a native load that cannot succeed). */
export interface ExtractWorkerData {
  spec: BackboneSpec;
  backend: BackendName;
}

const { spec, backend: atBest } = workerData as ExtractWorkerData;
const port = parentPort;
if (!port) throw new Error('extract-worker must run in a worker thread');

let trunk: Trunk;

(async () => {
  try {
    const backend = await selectBackend({ log: () => undefined, atBest });
    trunk = await loadExtractionTrunk(spec);
    port.postMessage({ ready: true, backend } satisfies WorkerReady);
  } catch (err) {
    port.postMessage({ ready: false, error: (err as Error).message } satisfies WorkerReady);
    return;
  }
  port.on('message', (req: ExtractRequest) => {
    extractBatch(trunk, spec, req.jpegs, req.augs).then(
      (data) => port.postMessage({ id: req.id, ok: true, data } satisfies ExtractResponse, [data.buffer as ArrayBuffer]),
      (err: Error) => port.postMessage({ id: req.id, ok: false, error: err.message } satisfies ExtractResponse),
    );
  });
})();
