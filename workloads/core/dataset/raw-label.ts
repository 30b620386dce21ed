import { z } from 'zod';
import { rawKeys, SAFE_ID, SAFE_ID_RULE } from '../layout';

/**
 * The label object `labels/<id>.json` in the raw bucket (key: `rawKeys.label(id)`).
 *
 * Writing one makes the image `imageKey` training data. The inference service writes it
 * (dog API ingestion: the true breed from the URL; feedback: the corrected label) once,
 * with an if-absent precondition; preprocessing reads it. Defined once, here, so both
 * sides agree on the shape, and validated on read so a malformed object is skipped with
 * a reason instead of poisoning a dataset.
 */
export interface RawLabel {
  /** Image id; `rawKeys.label(id)` is this object's key. */
  id: string;
  /** Key of the image in the raw bucket: `rawKeys.image(id, ext)`. */
  imageKey: string;
  /** Breed label (snake_case, as in `dogapi/breeds.ts`); new breeds may appear. */
  label: string;
  source: 'dogapi' | 'upload';
  /** When the label was given, ISO 8601. */
  labelledAt: string;
  /** SHA-256 (hex) of the image bytes at `imageKey`. */
  sha256: string;
  /** The prediction this image was classified in, if any (joins `prediction_events.prediction_id`). */
  predictionId?: string;
  /** What the serving model said; null when no model was loaded. */
  predictedLabel?: string | null;
  /** Whether the prediction was right; null when unknown. */
  correct?: boolean | null;
  /**
   * Whether the label may be believed as it stands: `trusted` for the configured image API,
   * `untrusted` for anything a user sent, until a trust policy promotes it (see trust.ts).
   * Absent in labels written before trust existed: then the source decides.
   */
  trust?: LabelTrust;
  /** Perceptual hash of the image (perceptual-hash.ts): near-duplicates share one fate, one split and one vote. */
  phash?: string;
  /** Pseudonymous id of who gave the label (one vote per voter per photo); absent for the image API. */
  voter?: string;
  /** Probability the serving model gave this label when it predicted the image (null: no model, or not in its top-k). */
  modelProbability?: number | null;
}

const LABEL_TRUST = ['trusted', 'untrusted'] as const;
export type LabelTrust = (typeof LABEL_TRUST)[number];

/** The trust a label was given when it was written (labels without the field: the image API is trusted, users are not). */
export const trustOf = (label: Pick<RawLabel, 'trust' | 'source'>): LabelTrust =>
  label.trust ?? (label.source === 'dogapi' ? 'trusted' : 'untrusted');

/** Labels are snake_case breed names (`golden_retriever`); see `dogapi/breeds.ts`. */
export const LABEL_PATTERN = /^[a-z0-9]+(?:_[a-z0-9]+)*$/;

export const rawLabelSchema = z.object({
  id: z.string().regex(SAFE_ID, `must be ${SAFE_ID_RULE}`),
  imageKey: z.string().refine(rawKeys.isImageKey, 'must be images/<id>.(jpg|png|webp)'),
  label: z.string().regex(LABEL_PATTERN, 'must be a snake_case breed label such as golden_retriever'),
  source: z.enum(['dogapi', 'upload']),
  labelledAt: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 timestamp' }),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
  predictionId: z.string().min(1).optional(),
  predictedLabel: z.string().nullable().optional(),
  correct: z.boolean().nullable().optional(),
  trust: z.enum(LABEL_TRUST).optional(),
  phash: z
    .string()
    .regex(/^[0-9a-f]{16}$/, 'must be 16 lowercase hex digits')
    .optional(),
  voter: z.string().min(1).max(128).optional(),
  modelProbability: z.number().min(0).max(1).nullable().optional(),
}) satisfies z.ZodType<RawLabel>;

export class RawLabelError extends Error {
  constructor(
    readonly reason: 'malformed_label_json' | 'invalid_label',
    message: string,
  ) {
    super(message);
    this.name = 'RawLabelError';
  }
}

/**
 * Parses and validates a label object's bytes. Throws {@link RawLabelError}: reason
 * `malformed_label_json` when it is not JSON, `invalid_label` when a field is missing or
 * wrong (the message names the field and what is accepted).
 */
export function parseRawLabel(data: Buffer | string, where = 'label object'): RawLabel {
  let json: unknown;
  try {
    json = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch (err) {
    throw new RawLabelError('malformed_label_json', `${where} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = rawLabelSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new RawLabelError('invalid_label', `${where} is not a valid label object: ${problems}`);
  }
  return parsed.data;
}
