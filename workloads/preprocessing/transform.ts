import { createHash } from 'node:crypto';
import { encodeDogExample } from '../core/dataset/dog-example';
import { type ImageLimits, ImageRejectedError, toTrainingJpeg } from '../core/images/normalize-image';
import type { SkipReason } from './skips';

/**
 * The per-element transform: one labelled raw object in, one serialized
 * `tf.train.Example` out (or a skip reason). Which split the example goes to is the plan's
 * decision (allocate.ts), not the transform's. It is a pure function of its input and
 * options (no storage, no clock), which is what lets the same code run in-process, in
 * worker threads, or sharded across machines by a managed runner.
 */

export interface TransformOptions {
  imageSize: number;
  jpegQuality: number;
  limits: ImageLimits;
}

export interface RawElement {
  /** Raw image URI, for logs. */
  uri: string;
  bytes: Buffer;
  /** Breed label and its index in the version's label map. */
  label: string;
  labelIndex: number;
  /** SHA-256 the label object claims for the image; checked when given. */
  expectedSha256?: string;
}

export type TransformResult =
  | { ok: true; sha256: string; label: string; payload: Buffer; width: number; height: number; sourceFormat: string }
  | { ok: false; reason: SkipReason; message: string };

export const sha256Hex = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

export async function transformElement(element: RawElement, options: TransformOptions): Promise<TransformResult> {
  const sha256 = sha256Hex(element.bytes);
  if (element.expectedSha256 !== undefined && element.expectedSha256 !== sha256) {
    return {
      ok: false,
      reason: 'sha256_mismatch',
      message: `image bytes hash to ${sha256} but the label object says ${element.expectedSha256}; the image changed after it was labelled`,
    };
  }
  let jpeg: Buffer;
  let sourceFormat: string;
  try {
    const out = await toTrainingJpeg(element.bytes, options.imageSize, options.jpegQuality, options.limits);
    jpeg = out.jpeg;
    sourceFormat = out.info.format;
  } catch (err) {
    if (err instanceof ImageRejectedError) return { ok: false, reason: err.reason, message: err.message };
    return { ok: false, reason: 'corrupt', message: `the image cannot be processed: ${(err as Error).message}` };
  }
  const payload = encodeDogExample({
    jpeg,
    format: 'jpeg',
    height: options.imageSize,
    width: options.imageSize,
    label: element.labelIndex,
    text: element.label,
    sourceId: sha256,
  });
  return {
    ok: true,
    sha256,
    label: element.label,
    payload,
    width: options.imageSize,
    height: options.imageSize,
    sourceFormat,
  };
}
