import { createHash, randomBytes } from 'node:crypto';
import type { RawLabel } from '../core/dataset/raw-label';
import { rawKeys } from '../core/layout';
import { ObjectStore, PreconditionFailedError, writeJson } from '../core/storage/object-store';
import type { OpenSetAnswer, TopKEntry } from './schemas';

/**
 * What the service keeps in the raw bucket (keys from core/layout.ts):
 *  - images/<id>.<ext>   the image bytes exactly as received
 *  - uploads/<id>.json   an upload awaiting a label: the prediction made on it, later the
 *                        feedback (so a prediction id resolves after a restart and double
 *                        feedback is refused across processes)
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
