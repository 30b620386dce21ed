import type { WorkloadConfig } from '../core/config/schema';
import { LABEL_PATTERN, type RawLabel } from '../core/dataset/raw-label';
import type { ReviewDecision, Vote } from '../core/dataset/trust';
import { rawKeys } from '../core/layout';
import type { DataLake } from '../core/storage/data-lake';
import { readJson, writeJson } from '../core/storage/object-store';
import { readIntake } from '../preprocessing/intake';

/**
 * The operator's review: users' photos whose labels no policy has confirmed, one entry per
 * photo (near-duplicates together), with what an operator needs to decide: the photo, the
 * model's guess and every voter's label. A decision is written for the photo's first label
 * object and decides the whole photo (its near-duplicates share its fate); the next dataset
 * version takes an approved photo in with the approved label (a new breed too, which only
 * this path can add). Used by `npm run review` and the service's review page.
 */

export interface ReviewItem {
  /** The label object a decision is recorded for. */
  id: string;
  imageKey: string;
  status: 'pending' | 'conflict' | 'rejected' | 'trusted';
  /** Label objects for this photo (uploads, near-copies). */
  members: number;
  votes: Vote[];
  /** What the serving model said when the photo was classified (first member's prediction). */
  model: { predicted: string | null; version?: string };
  firstLabelledAt: string;
  reason: string;
  review: ReviewDecision | null;
}

/** Photos awaiting a decision (pending or conflicting), oldest first; with `all`, decided ones too. */
export async function reviewQueue(
  lake: Pick<DataLake, 'raw' | 'datasets'>,
  config: Pick<WorkloadConfig, 'preprocessing' | 'trust' | 'images'>,
  options: { all?: boolean } = {},
): Promise<ReviewItem[]> {
  const intake = await readIntake(lake, config);
  return intake.clusters
    .filter((c) => c.members.some((m) => m.label.source === 'upload'))
    .filter((c) => options.all || c.status === 'pending' || c.status === 'conflict')
    .filter((c) => c.status !== 'stored')
    .map((c) => {
      const first = c.members[0].label;
      return {
        id: first.id,
        imageKey: first.imageKey,
        status: c.status as ReviewItem['status'],
        members: c.members.length,
        votes: c.votes,
        model: { predicted: first.predictedLabel ?? null },
        firstLabelledAt: first.labelledAt,
        reason: c.reason,
        review: c.review,
      };
    })
    .sort((a, b) => a.firstLabelledAt.localeCompare(b.firstLabelledAt));
}

export class ReviewError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReviewError';
  }
}

/** Records an operator's decision on a user's label (the latest decision for a photo counts). */
export async function recordReview(
  raw: DataLake['raw'],
  decision: { id: string; decision: 'approve' | 'reject'; label?: string | null; reviewer: string; note?: string },
  now = new Date(),
): Promise<ReviewDecision> {
  const label = await readJson<RawLabel>(raw, rawKeys.label(decision.id));
  if (!label) throw new ReviewError(`no label object ${decision.id}: review the ids \`npm run review -- list\` shows`);
  const approved = decision.decision === 'approve' ? (decision.label ?? label.label) : null;
  if (approved !== null && !LABEL_PATTERN.test(approved))
    throw new ReviewError(`label ${JSON.stringify(approved)} is not a snake_case breed label such as golden_retriever`);
  if (!decision.reviewer.trim()) throw new ReviewError('a review needs the reviewer’s name');
  const review: ReviewDecision = {
    id: decision.id,
    decision: decision.decision,
    label: approved,
    reviewer: decision.reviewer.trim().slice(0, 100),
    at: now.toISOString(),
    ...(decision.note ? { note: decision.note.slice(0, 500) } : {}),
  };
  await writeJson(raw, rawKeys.review(decision.id), review);
  return review;
}
