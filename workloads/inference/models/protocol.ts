/**
 * Messages between the inference worker pool (main thread) and its workers. Pixels and
 * probabilities travel as transferred ArrayBuffers, so a batch is never copied twice.
 */

/** A model version's files, as read from the models bucket (keys as in the bucket). */
export type ModelFiles = Record<string, Uint8Array>;

export type ToWorker =
  | { type: 'load'; id: number; version: string; files: ModelFiles; warmupBatch: number }
  | { type: 'unload'; id: number; version: string }
  /** `pixels`: n images of size×size×3 RGB bytes; every version in `versions` predicts on all of them. */
  | { type: 'predict'; id: number; versions: string[]; n: number; pixels: ArrayBuffer };

export type FromWorker =
  | { type: 'ready'; backend: string }
  | {
      type: 'loaded';
      id: number;
      version: string;
      labels: string[];
      inputSize: number;
      loadMs: number;
      warmupMs: number;
      fusedTrunk: boolean;
    }
  | { type: 'unloaded'; id: number }
  /**
   * `probs[v]`: n × labels(v) probabilities for versions[v], row-major. `dog`: n float32s,
   * each image's ImageNet dog-class probability mass (null when no served backbone has an ImageNet head).
   */
  | { type: 'predicted'; id: number; probs: ArrayBuffer[]; dog: ArrayBuffer | null; computeMs: number }
  | { type: 'error'; id: number; message: string };
