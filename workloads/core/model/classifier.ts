import type { ObjectStore } from '../storage/object-store';
import { tf } from '../tf/backend';
import { BackboneSpec, IMAGENET, loadImagenetHead, loadTrunk, Trunk } from './backbones';
import { loadHead, ModelVersionMeta, readModelMeta } from './model-version';

/** What a classifier says about n images. */
export interface ClassifierOutput {
  /** n rows of class probabilities (label order of the version). */
  probs: Float32Array[];
  /**
   * Per image, the backbone's ImageNet head's probability mass on its dog classes: how sure
   * it is that the image shows a dog at all. null when the backbone has no ImageNet head.
   */
  dogProbability: Float32Array | null;
}

/** A ready model version: images in, class probabilities out. */
export interface Classifier {
  meta: ModelVersionMeta;
  /** `pixels`: n images of `size × size × 3` RGB bytes, concatenated. */
  predict(pixels: Uint8Array, n: number): Promise<ClassifierOutput>;
  dispose(): void;
}

/** Identity of a trunk in a cache: backbone, location, cut and input size. */
export const trunkKey = (spec: BackboneSpec): string => JSON.stringify([spec.name, spec.url, spec.cut, spec.inputSize]);
const backboneKey = (spec: BackboneSpec): string => JSON.stringify([spec.name, spec.url]);

/**
 * Trunks (and the backbones' ImageNet heads) are shared between model versions that use
 * the same backbone spec, so a model swap in a serving process loads only the new (small) head.
 */
export class TrunkCache {
  private readonly trunks = new Map<string, Promise<Trunk>>();
  private readonly imagenetHeads = new Map<string, Promise<tf.LayersModel | null>>();

  get(spec: BackboneSpec): Promise<Trunk> {
    const key = trunkKey(spec);
    let t = this.trunks.get(key);
    if (!t) {
      t = loadTrunk(spec);
      t.catch(() => this.trunks.delete(key));
      this.trunks.set(key, t);
    }
    return t;
  }

  imagenetHead(spec: BackboneSpec): Promise<tf.LayersModel | null> {
    const key = backboneKey(spec);
    let h = this.imagenetHeads.get(key);
    if (!h) {
      h = loadImagenetHead(spec);
      h.catch(() => this.imagenetHeads.delete(key));
      this.imagenetHeads.set(key, h);
    }
    return h;
  }

  /** Drops trunks (and ImageNet heads) no longer used by any of `keep`. */
  retainOnly(keep: BackboneSpec[]): void {
    const keys = new Set(keep.map(trunkKey));
    for (const [k, t] of this.trunks) {
      if (!keys.has(k)) {
        this.trunks.delete(k);
        void t.then((x) => x.dispose()).catch(() => undefined);
      }
    }
    const backbones = new Set(keep.map(backboneKey));
    for (const [k, h] of this.imagenetHeads) {
      if (!backbones.has(k)) {
        this.imagenetHeads.delete(k);
        void h.then((x) => x?.dispose()).catch(() => undefined);
      }
    }
  }
}

/** Sum of the ImageNet head's probabilities over its dog classes, per row. */
export function dogMass(imagenetProbs: tf.Tensor2D): tf.Tensor1D {
  const { first, last } = IMAGENET.dogClasses;
  return tf.tidy(() => imagenetProbs.slice([0, first + IMAGENET.offset], [-1, last - first + 1]).sum(1) as tf.Tensor1D);
}

export async function loadClassifier(store: ObjectStore, version: string, trunks: TrunkCache = new TrunkCache()): Promise<Classifier> {
  const meta = await readModelMeta(store, version);
  const [trunk, head, imagenet] = await Promise.all([
    trunks.get(meta.backbone),
    loadHead(store, version),
    trunks.imagenetHead(meta.backbone),
  ]);
  const size = meta.backbone.inputSize;
  return {
    meta,
    async predict(pixels: Uint8Array, n: number): Promise<ClassifierOutput> {
      if (pixels.length !== n * size * size * 3)
        throw new Error(`expected ${n} images of ${size}×${size}×3 bytes, got ${pixels.length} bytes`);
      const out = tf.tidy((): { probs: tf.Tensor2D; dog?: tf.Tensor1D } => {
        const images = tf.tensor4d(pixels, [n, size, size, 3], 'int32');
        if (!imagenet) return { probs: head.predict(trunk.apply(images)) as tf.Tensor2D };
        const { activations, features } = trunk.applyWithFeatures(images);
        return { probs: head.predict(activations) as tf.Tensor2D, dog: dogMass(imagenet.predict(features) as tf.Tensor2D) };
      });
      const { probs, dog } = out;
      const [flat, dogProbability] = await Promise.all([
        probs.data() as Promise<Float32Array>,
        dog?.data() as Promise<Float32Array> | undefined,
      ]);
      probs.dispose();
      dog?.dispose();
      const k = meta.labels.length;
      return { probs: Array.from({ length: n }, (_, i) => flat.slice(i * k, (i + 1) * k)), dogProbability: dogProbability ?? null };
    },
    dispose: () => head.dispose(),
  };
}
