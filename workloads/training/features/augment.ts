import type { WorkloadConfig } from '../../core/config/schema';
import { tf } from '../../core/tf/backend';
import { Prng } from './prng';

/**
 * Training-image augmentation: horizontal flip, small rotation, brightness. Variant 0 of
 * an image is the image itself; variants 1..n are random but DETERMINISTIC functions of
 * (seed, image id, variant), so their trunk activations can be cached by content and a
 * later training cycle (or a resumed one) sees exactly the same augmented examples.
 */
export interface Augmentation {
  flip: boolean;
  /** Radians. */
  rotation: number;
  /** Multiplicative brightness factor (1 = unchanged). */
  brightness: number;
}

export type AugmentConfig = WorkloadConfig['training']['augment'];

export const IDENTITY: Augmentation = { flip: false, rotation: 0, brightness: 1 };

export function augmentationFor(cfg: AugmentConfig, seed: number, sourceId: string, variant: number): Augmentation {
  if (variant === 0) return IDENTITY;
  const r = Prng.from('augment', seed, sourceId, variant);
  // Odd variants flip and even ones do not, so with two variants each image is seen
  // both ways round regardless of the draw.
  const flip = cfg.horizontalFlip && variant % 2 === 1;
  const rotation = (r.uniform(-1, 1) * cfg.rotationDegrees * Math.PI) / 180;
  const brightness = 1 + r.uniform(-1, 1) * cfg.brightness;
  return { flip, rotation, brightness };
}

/** A stable identity of an augmentation policy, part of the feature-cache key. */
export function augmentationPolicyKey(cfg: AugmentConfig, seed: number): string {
  return JSON.stringify([cfg.horizontalFlip, cfg.rotationDegrees, cfg.brightness, seed]);
}

/** Applies augmentations to a batch of RGB images in [0, 255] (float32 [n, h, w, 3]). */
export function applyAugmentations(images: tf.Tensor4D, augs: Augmentation[]): tf.Tensor4D {
  if (augs.every((a) => a === IDENTITY || (!a.flip && a.rotation === 0 && a.brightness === 1))) return images.toFloat();
  return tf.tidy(() => {
    const parts = tf.unstack(images.toFloat()).map((img, i) => {
      const a = augs[i];
      let x = img.expandDims(0) as tf.Tensor4D;
      if (a.flip) x = tf.image.flipLeftRight(x);
      // Fill the corners uncovered by rotation with mid-grey rather than black, which
      // would be a strong, unnatural edge feature.
      if (a.rotation !== 0) x = tf.image.rotateWithOffset(x, a.rotation, 127);
      if (a.brightness !== 1) x = x.mul(a.brightness).clipByValue(0, 255) as tf.Tensor4D;
      return x;
    });
    return tf.concat(parts, 0) as tf.Tensor4D;
  });
}
