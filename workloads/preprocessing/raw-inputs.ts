import { createHash } from 'node:crypto';
import { perceptualHash } from '../core/dataset/perceptual-hash';
import { LABEL_PATTERN, parseRawLabel, type RawLabel, RawLabelError } from '../core/dataset/raw-label';
import type { ReviewDecision } from '../core/dataset/trust';
import { rawKeys } from '../core/layout';
import type { ObjectStore } from '../core/storage/object-store';
import { mapConcurrent } from './concurrency';
import type { SkipLog } from './skips';

/** A valid label object and where its image is. */
export interface LabelledImage {
  label: RawLabel;
  labelUri: string;
  imageUri: string;
}

/** Reads and validates every label object; bad ones are skipped with their reason. */
export async function readLabels(
  raw: ObjectStore,
  skips: SkipLog,
  concurrency = 32,
): Promise<{ labels: LabelledImage[]; objects: number }> {
  const objects = (await raw.list(rawKeys.labelsPrefix)).filter((o) => o.key.endsWith('.json'));
  const parsed = await mapConcurrent(objects, concurrency, async (o): Promise<LabelledImage | undefined> => {
    const uri = raw.uri(o.key);
    let data: Buffer;
    try {
      data = await raw.read(o.key);
    } catch (err) {
      skips.add(uri, 'read_error', `the label object cannot be read: ${(err as Error).message}`);
      return undefined;
    }
    try {
      const label = parseRawLabel(data, uri);
      const id = rawKeys.labelId(o.key);
      if (id !== label.id)
        throw new RawLabelError('invalid_label', `${uri} has id ${JSON.stringify(label.id)} but its key says ${JSON.stringify(id)}`);
      return { label, labelUri: uri, imageUri: raw.uri(label.imageKey) };
    } catch (err) {
      if (err instanceof RawLabelError) skips.add(uri, err.reason, err.message);
      else throw err;
      return undefined;
    }
  });
  return { labels: parsed.filter((p): p is LabelledImage => p !== undefined), objects: objects.length };
}

const REVIEW_KEY = /^reviews\/([A-Za-z0-9][A-Za-z0-9._-]{0,127})\.json$/;

/** Operators' review decisions, by the id of the label object reviewed; malformed ones are skipped with a reason. */
export async function readReviews(raw: ObjectStore, skips: SkipLog): Promise<Map<string, ReviewDecision>> {
  const reviews = new Map<string, ReviewDecision>();
  for (const o of await raw.list(rawKeys.reviewsPrefix)) {
    const id = REVIEW_KEY.exec(o.key)?.[1];
    if (!id) continue;
    let review: Partial<ReviewDecision> | undefined;
    try {
      review = JSON.parse((await raw.read(o.key)).toString('utf8')) as Partial<ReviewDecision>;
    } catch (err) {
      skips.add(raw.uri(o.key), 'invalid_review', `the review is not valid JSON: ${(err as Error).message}`);
      continue;
    }
    const ok =
      review.id === id &&
      (review.decision === 'approve' || review.decision === 'reject') &&
      (review.label === null || (typeof review.label === 'string' && LABEL_PATTERN.test(review.label))) &&
      typeof review.reviewer === 'string' &&
      typeof review.at === 'string';
    if (!ok) {
      skips.add(
        raw.uri(o.key),
        'invalid_review',
        `not a review decision for ${id}: needs id, decision (approve|reject), label, reviewer, at`,
      );
      continue;
    }
    reviews.set(id, review as ReviewDecision);
  }
  return reviews;
}

/**
 * The perceptual hash of each label's photo: the one the label object records (the service
 * computes it when it stores the photo), else computed here from the image, whose bytes
 * must then match the label's content hash. A photo that cannot be decoded gets a stand-in
 * derived from its content hash (which no real photo is near), and is rejected later by
 * the transform with the precise reason.
 */
export async function withPerceptualHashes<T extends LabelledImage>(
  raw: ObjectStore,
  labels: readonly T[],
  maxPixels: number,
  skips: SkipLog,
  concurrency = 16,
): Promise<Array<T & { phash: string }>> {
  const hashed = await mapConcurrent(labels, concurrency, async (l): Promise<(T & { phash: string }) | undefined> => {
    if (l.label.phash) return { ...l, phash: l.label.phash };
    let bytes: Buffer;
    try {
      bytes = await raw.read(l.label.imageKey);
    } catch {
      return { ...l, phash: l.label.sha256.slice(0, 16) }; // the transform reports the missing image
    }
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== l.label.sha256) {
      skips.add(
        l.imageUri,
        'sha256_mismatch',
        `image bytes hash to ${actual} but ${l.labelUri} says ${l.label.sha256}; the image changed after it was labelled`,
      );
      return undefined;
    }
    try {
      return { ...l, phash: await perceptualHash(bytes, { maxPixels }) };
    } catch {
      return { ...l, phash: l.label.sha256.slice(0, 16) };
    }
  });
  return hashed.filter((h): h is T & { phash: string } => h !== undefined);
}
