import type { ObjectStore } from '../storage/object-store';
import { tf } from '../tf/backend';
import { BackboneSpec, loadTrunk, Trunk } from './backbones';
import { loadHead, ModelVersionMeta, readModelMeta } from './model-version';

/** A ready model version: images in, class probabilities out. */
export interface Classifier {
  meta: ModelVersionMeta;
  /** `pixels`: n images of `size × size × 3` RGB bytes, concatenated. Returns n rows of probabilities. */
  predict(pixels: Uint8Array, n: number): Promise<Float32Array[]>;
  dispose(): void;
}

/**
 * Trunks are shared between model versions that use the same backbone spec, so a model
 * swap in a serving process loads only the new (small) head.
 */
export class TrunkCache {
  private readonly trunks = new Map<string, Promise<Trunk>>();

  get(spec: BackboneSpec): Promise<Trunk> {
    const key = JSON.stringify([spec.name, spec.url, spec.cut]);
    let t = this.trunks.get(key);
    if (!t) {
      t = loadTrunk(spec);
      t.catch(() => this.trunks.delete(key));
      this.trunks.set(key, t);
    }
    return t;
  }

  /** Drops trunks no longer used by any of `keep`. */
  retainOnly(keep: BackboneSpec[]): void {
    const keys = new Set(keep.map((s) => JSON.stringify([s.name, s.url, s.cut])));
    for (const [k, t] of this.trunks) {
      if (!keys.has(k)) {
        this.trunks.delete(k);
        void t.then((x) => x.dispose()).catch(() => undefined);
      }
    }
  }
}

export async function loadClassifier(store: ObjectStore, version: string, trunks: TrunkCache = new TrunkCache()): Promise<Classifier> {
  const meta = await readModelMeta(store, version);
  const [trunk, head] = await Promise.all([trunks.get(meta.backbone), loadHead(store, version)]);
  const size = meta.backbone.inputSize;
  return {
    meta,
    async predict(pixels: Uint8Array, n: number): Promise<Float32Array[]> {
      if (pixels.length !== n * size * size * 3)
        throw new Error(`expected ${n} images of ${size}×${size}×3 bytes, got ${pixels.length} bytes`);
      const probs = tf.tidy(() => {
        const images = tf.tensor4d(pixels, [n, size, size, 3], 'int32');
        return head.predict(trunk.apply(images)) as tf.Tensor2D;
      });
      const flat = (await probs.data()) as Float32Array;
      probs.dispose();
      const k = meta.labels.length;
      return Array.from({ length: n }, (_, i) => flat.slice(i * k, (i + 1) * k));
    },
    dispose: () => head.dispose(),
  };
}
