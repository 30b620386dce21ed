import { createHash, randomBytes } from 'node:crypto';
import type { RawLabel } from '../core/dataset/raw-label';
import { rawKeys } from '../core/layout';
import { ObjectStore, PreconditionFailedError, writeJson } from '../core/storage/object-store';
import type { OpenSetAnswer, TopKEntry } from './schemas';

/**
 * What the service keeps in the raw bucket (keys from core/layout.ts):
 *  - images/<id>.<ext>   a labelled image: from the dog API as received; an upload's copy
 *                        once it is labelled
 *  - uploads/<id>.jpg    an upload awaiting a label: a bounded re-encoded copy (never the
 *                        client's bytes); uploads/ expires (inference.unlabelledUploadDays)
 *  - uploads/<id>.json   its record: the prediction made on it, later the feedback (so a
 *                        prediction id resolves after a restart and double feedback is
 *                        refused across processes)
 *  - labels/<id>.json    a {@link RawLabel}: the image is training data. Written once.
 * The image id is also the prediction id.
 */

export interface UploadRecord {
  id: string;
  imageKey: string;
  sha256: string;
  format: string;
  width: number;
  height: number;
  uploadedAt: string;
  requestId: string;
  /** Perceptual hash of the photo: its near-duplicates share its fate, split and vote. */
  phash?: string;
  /** Pseudonymous id of the client that uploaded it (its feedback is this voter's one vote). */
  voter?: string;
  /** What the client sent (its bytes are not kept). */
  original?: { format: string; width: number; height: number; bytes: number };
  prediction: {
    predictedLabel: string;
    confidence: number;
    modelVersion: string;
    topK: TopKEntry[];
    latencyMs: number;
    /** The open-set answer shown to the person (absent in records from before it existed). Never a label. */
    answer?: OpenSetAnswer;
  };
  feedback?: {
    feedbackId: string;
    correct: boolean;
    label: string | null;
    at: string;
  };
}

/** Sortable by time, unique, and safe as an object key: `20261123T162000123Z-9f3a1c2b7d4e`. */
export function newId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:.]/g, '')}-${randomBytes(6).toString('hex')}`;
}

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

export async function readUpload(store: ObjectStore, id: string): Promise<{ record: UploadRecord; generation: string } | undefined> {
  const found = await store.readIfExists(rawKeys.upload(id));
  if (!found) return undefined;
  return { record: JSON.parse(found.data.toString('utf8')) as UploadRecord, generation: found.info.generation };
}

/**
 * Copies a labelled upload's image out of uploads/ (which expires) to images/, where
 * training data lives; returns its key. Idempotent: a retry finds the copy in place.
 */
export async function keepUploadImage(store: ObjectStore, record: UploadRecord): Promise<string> {
  if (record.imageKey.startsWith(rawKeys.imagesPrefix)) return record.imageKey; // stored before uploads were kept apart
  const key = rawKeys.image(record.id, 'jpg');
  try {
    await store.write(key, await store.read(record.imageKey), { ifGenerationMatch: '0', contentType: 'image/jpeg' });
  } catch (err) {
    if (!(err instanceof PreconditionFailedError)) throw err;
  }
  return key;
}

/** Writes a label object once; false when the image already has a label. */
export async function writeLabelOnce(store: ObjectStore, label: RawLabel): Promise<boolean> {
  try {
    await writeJson(store, rawKeys.label(label.id), label, { ifGenerationMatch: '0' });
    return true;
  } catch (err) {
    if (err instanceof PreconditionFailedError) return false;
    throw err;
  }
}
