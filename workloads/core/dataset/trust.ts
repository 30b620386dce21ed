import type { WorkloadConfig } from '../config/schema';
import type { Split } from '../layout';
import { NearDuplicateIndex } from './near-duplicates';
import { type RawLabel, trustOf } from './raw-label';

/**
 * Which labels the loop believes. Every label object records its source and the trust it
 * was given (the configured image API: trusted; a user: untrusted). A user's label becomes
 * trusted only through a configured policy:
 *   - review:    an operator approved it (CLI `npm run review`, or the review page);
 *   - agreement: `trust.agreementVoters` independent users gave the same label to the same
 *                photo and are a majority of its voters;
 *   - champion:  a correction the serving model itself gave at least
 *                `trust.championMinProbability` (corrections only).
 * A label outside the known label set (a breed proposal) is trusted only by review.
 *
 * Photos are grouped first: the same bytes, or perceptual hashes at most
 * `trust.nearDuplicateBits` apart, are one photo (a cluster), which has one fate (trusted
 * with one label, pending, rejected), lands in one split, and counts each voter once. A
 * cluster that is a near-duplicate of a stored example is that example: already decided.
 *
 * Pure: the planner (preprocessing), the trigger and the review queue all call this on
 * what they read, so the three always agree on what is trusted and new.
 */

export type TrustPolicy = WorkloadConfig['trust'];
export type TrustedBy = 'source' | 'review' | 'agreement' | 'champion';

/** An operator's decision on a user's label (`rawKeys.review(labelId)`). */
export interface ReviewDecision {
  /** The label object reviewed. */
  id: string;
  decision: 'approve' | 'reject';
  /** The label approved (the operator may correct it); null for a rejection. */
  label: string | null;
  reviewer: string;
  at: string;
  note?: string;
}

/** A label object with its photo's perceptual hash (computed by the caller when the object lacks one). */
export interface HashedLabel {
  label: RawLabel;
  phash: string;
}

/** An example already in a dataset version. */
export interface StoredExample {
  sha256: string;
  /** Absent for examples stored before perceptual hashes (matched by content hash only). */
  phash?: string;
  label: string;
  split: Split;
}

type ClusterStatus = 'stored' | 'trusted' | 'pending' | 'rejected' | 'conflict';

export interface Vote {
  label: string;
  voters: string[];
}

export interface Cluster<L extends HashedLabel = HashedLabel> {
  members: L[];
  /** The member whose photo a version stores (a trusted source's first, else the first with the trusted label). */
  representative: L;
  /** The stored example this photo already is, if any. */
  stored: StoredExample | null;
  status: ClusterStatus;
  /** The label the photo has (stored or trusted), else null. */
  label: string | null;
  trustedBy: TrustedBy | null;
  /** Untrusted users' votes, one per voter, most votes first. */
  votes: Vote[];
  review: ReviewDecision | null;
  /** Why, in words. */
  reason: string;
}

export interface TrustInput<L extends HashedLabel> {
  labels: readonly L[];
  stored: readonly StoredExample[];
  reviews: ReadonlyMap<string, ReviewDecision>;
  /** Labels user policies may confirm (the known breeds and every label in a version); others need review. */
  knownLabels: ReadonlySet<string>;
  policy: TrustPolicy;
}

const byTime = (a: HashedLabel, b: HashedLabel): number =>
  a.label.labelledAt.localeCompare(b.label.labelledAt) || a.label.id.localeCompare(b.label.id);

/** A label object's voter: the pseudonymous id it records, else the object itself (one vote). */
const voterOf = (l: RawLabel): string => l.voter ?? `label:${l.id}`;

export function resolveTrust<L extends HashedLabel>(input: TrustInput<L>): Cluster<L>[] {
  const labels = [...input.labels].sort(byTime);
  const parent = labels.map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]];
    return i;
  };
  const union = (a: number, b: number): void => {
    const [ra, rb] = [find(a), find(b)];
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };

  // Group: same bytes, or near-duplicate pixels.
  const index = new NearDuplicateIndex<number>(input.policy.nearDuplicateBits);
  const bySha = new Map<string, number>();
  labels.forEach((l, i) => {
    const same = bySha.get(l.label.sha256);
    if (same !== undefined) union(i, same);
    else bySha.set(l.label.sha256, i);
    for (const j of index.near(l.phash)) union(i, j);
    index.add(l.phash, i);
  });
  const storedBySha = new Map(input.stored.map((s) => [s.sha256, s]));
  const storedIndex = new NearDuplicateIndex<StoredExample>(input.policy.nearDuplicateBits);
  for (const s of input.stored) if (s.phash) storedIndex.add(s.phash, s);

  const groups = new Map<number, L[]>();
  labels.forEach((l, i) => {
    const root = find(i);
    groups.set(root, [...(groups.get(root) ?? []), l]);
  });
  return [...groups.values()].map((members) => {
    const stored = members.map((m) => storedBySha.get(m.label.sha256) ?? storedIndex.near(m.phash)[0]).find((s) => s !== undefined) ?? null;
    return decideCluster(members, stored, input);
  });
}

function decideCluster<L extends HashedLabel>(members: L[], stored: StoredExample | null, input: TrustInput<L>): Cluster<L> {
  const { policy } = input;
  const untrusted = members.filter((m) => trustOf(m.label) === 'untrusted');
  const votes = tally(untrusted);
  const voters = votes.reduce((n, v) => n + v.voters.length, 0);
  const review =
    members
      .map((m) => input.reviews.get(m.label.id))
      .filter((r): r is ReviewDecision => r !== undefined)
      .sort((a, b) => a.at.localeCompare(b.at))
      .pop() ?? null;
  const base = { members, stored, votes, review };
  const out = (status: ClusterStatus, label: string | null, trustedBy: TrustedBy | null, reason: string, representative = members[0]) => ({
    ...base,
    representative,
    status,
    label,
    trustedBy,
    reason,
  });
  const firstWith = (label: string): L => members.find((m) => m.label.label === label) ?? members[0];

  if (stored) return out('stored', stored.label, null, `already in the dataset as ${stored.label} (${stored.split})`);
  if (review) {
    if (review.decision === 'reject')
      return out('rejected', null, null, `rejected by ${review.reviewer} at ${review.at}${review.note ? `: ${review.note}` : ''}`);
    const label = review.label ?? votes[0]?.label ?? members[0].label.label;
    return out('trusted', label, 'review', `approved as ${label} by ${review.reviewer} at ${review.at}`, firstWith(label));
  }
  const trusted = members.filter((m) => trustOf(m.label) === 'trusted');
  if (trusted.length > 0) {
    const labels = [...new Set(trusted.map((m) => m.label.label))];
    if (labels.length > 1)
      return out('conflict', null, null, `trusted sources disagree on this photo (${labels.join(', ')}): an operator must decide`);
    return out('trusted', labels[0], 'source', `labelled ${labels[0]} by the ${trusted[0].label.source} source`, trusted[0]);
  }
  const top = votes[0];
  const known = top !== undefined && input.knownLabels.has(top.label);
  const summary = votes.map((v) => `${v.label} ${v.voters.length}`).join(', ');
  if (top && known && policy.agreementVoters > 0 && top.voters.length >= policy.agreementVoters && top.voters.length * 2 > voters) {
    return out(
      'trusted',
      top.label,
      'agreement',
      `${top.voters.length} independent users agree on ${top.label} (votes: ${summary})`,
      firstWith(top.label),
    );
  }
  if (top && known && policy.championMinProbability > 0 && votes.length === 1) {
    const correction = untrusted.find(
      (m) => m.label.label === top.label && m.label.correct === false && (m.label.modelProbability ?? 0) >= policy.championMinProbability,
    );
    if (correction) {
      return out(
        'trusted',
        top.label,
        'champion',
        `a correction to ${top.label} that the serving model gave ${(correction.label.modelProbability! * 100).toFixed(0)}% (≥ ${(policy.championMinProbability * 100).toFixed(0)}%)`,
        correction,
      );
    }
  }
  const needs = top && !known ? `${top.label} is not a known breed: only an operator's review can add it` : 'awaiting review or agreement';
  return out('pending', null, null, `untrusted (votes: ${summary || 'none'}); ${needs}`);
}

/** One vote per voter per photo: the voter's first label. */
function tally(untrusted: readonly HashedLabel[]): Vote[] {
  const first = new Map<string, string>();
  for (const m of [...untrusted].sort(byTime)) if (!first.has(voterOf(m.label))) first.set(voterOf(m.label), m.label.label);
  const byLabel = new Map<string, string[]>();
  for (const [voter, label] of first) byLabel.set(label, [...(byLabel.get(label) ?? []), voter]);
  return [...byLabel.entries()]
    .map(([label, voters]) => ({ label, voters }))
    .sort((a, b) => b.voters.length - a.voters.length || a.label.localeCompare(b.label));
}
