import type { WorkloadConfig } from '../core/config/schema';
import { trustOf } from '../core/dataset/raw-label';
import { type Cluster, resolveTrust, type StoredExample, type TrustedBy } from '../core/dataset/trust';
import { BREEDS } from '../core/dogapi/breeds';
import type { Logger } from '../core/log';
import type { ObjectStore } from '../core/storage/object-store';
import { type Lineage, readLineage } from './lineage';
import { type LabelledImage, readLabels, readReviews, withPerceptualHashes } from './raw-inputs';
import { type Skip, SkipLog } from './skips';

/**
 * What the next dataset version would take in: the trusted photos no version holds yet,
 * one per photo (near-duplicates are one photo), and what stays out and why (pending
 * users' labels, rejected or conflicting ones, new breeds still too small to learn).
 * Preprocessing plans from it and the trigger counts from it, so the trigger never fires
 * for data preprocessing would not take.
 */

export type IntakeSettings = Pick<WorkloadConfig, 'preprocessing' | 'trust'> & { images: Pick<WorkloadConfig['images'], 'maxPixels'> };

type IntakeLabel = LabelledImage & { phash: string };

/** A trusted photo to add: the representative label object of its cluster, with the label the cluster was trusted with. */
export interface FreshItem {
  imageKey: string;
  imageUri: string;
  labelUri: string;
  label: string;
  sha256: string;
  phash: string;
  source: 'dogapi' | 'upload';
  trustedBy: TrustedBy;
}

export interface Intake {
  lineage: Lineage;
  labelObjects: number;
  skips: Skip[];
  clusters: Cluster<IntakeLabel>[];
  /** Trusted photos no version holds, ready to go in (new breeds only once they have enough). */
  fresh: FreshItem[];
  /** New breeds below `preprocessing.minClassExamples` trusted photos: label → photos waiting. */
  deferred: Record<string, number>;
  /** Photos whose users' labels no policy has confirmed yet. */
  pending: number;
  rejected: number;
  conflicts: number;
  /** Label objects for a photo that is stored or taken in once already (same bytes or a near-duplicate). */
  duplicates: number;
  /**
   * Examples of versions made before trust existed whose labels no trusted source or
   * review confirms (users' feedback): left out when those versions are carried into the
   * first snapshot.
   */
  untrustedStored: Set<string>;
}

export async function readIntake(
  stores: { raw: ObjectStore; datasets: ObjectStore },
  settings: IntakeSettings,
  options: { log?: Logger; lineage?: Lineage } = {},
): Promise<Intake> {
  const lineage = options.lineage ?? (await readLineage(stores.datasets));
  const skips = new SkipLog(options.log);
  const { labels, objects } = await readLabels(stores.raw, skips);
  const reviews = await readReviews(stores.raw, skips);

  // Photos stored by their exact bytes are decided; everything else is grouped and judged.
  const parentCreated = lineage.parent?.createdAt;
  let duplicates = 0;
  const open: LabelledImage[] = [];
  for (const l of labels) {
    const known = lineage.known.get(l.label.sha256);
    if (!known) open.push(l);
    // Counted once: in the first run after the duplicate label arrived.
    else if (known.uri !== l.imageUri && (parentCreated === undefined || l.label.labelledAt > parentCreated)) duplicates++;
  }
  const hashed = await withPerceptualHashes(stores.raw, open, settings.images.maxPixels, skips);
  const stored: StoredExample[] = [...lineage.known.values()];
  const clusters = resolveTrust({
    labels: hashed,
    stored,
    reviews,
    knownLabels: new Set([...BREEDS.map((b) => b.label), ...lineage.labels]),
    policy: settings.trust,
  });

  const trusted = clusters.filter((c) => c.status === 'trusted');
  const perClass = new Map<string, number>();
  for (const c of trusted) perClass.set(c.label!, (perClass.get(c.label!) ?? 0) + 1);
  const deferred: Record<string, number> = {};
  for (const [label, n] of perClass)
    if (!lineage.labels.includes(label) && n < settings.preprocessing.minClassExamples) deferred[label] = n;

  const fresh: FreshItem[] = trusted
    .filter((c) => !(c.label! in deferred))
    .map((c) => ({
      imageKey: c.representative.label.imageKey,
      imageUri: c.representative.imageUri,
      labelUri: c.representative.labelUri,
      label: c.label!,
      sha256: c.representative.label.sha256,
      phash: c.representative.phash,
      source: c.representative.label.source,
      trustedBy: c.trustedBy!,
    }));
  for (const c of clusters) {
    if (c.status === 'stored')
      duplicates += c.members.filter((m) => parentCreated === undefined || m.label.labelledAt > parentCreated).length;
    else if (c.status === 'trusted') duplicates += c.members.length - 1;
  }
  // Before the first snapshot, versions took users' labels as they came: keep only what a trusted label backs.
  const untrustedStored = new Set<string>();
  if (lineage.parent && !lineage.parent.snapshot) {
    const backed = new Set(
      labels.filter((l) => trustOf(l.label) === 'trusted' || reviews.get(l.label.id)?.decision === 'approve').map((l) => l.label.sha256),
    );
    for (const sha of lineage.known.keys()) if (!backed.has(sha)) untrustedStored.add(sha);
  }
  const count = (status: Cluster['status']) => clusters.filter((c) => c.status === status).length;
  options.log?.info(
    {
      labelObjects: objects,
      fresh: fresh.length,
      deferred,
      pending: count('pending'),
      rejected: count('rejected'),
      conflicts: count('conflict'),
      untrustedObjects: labels.filter((l) => trustOf(l.label) === 'untrusted').length,
    },
    'intake',
  );
  return {
    lineage,
    labelObjects: objects,
    skips: skips.skips,
    clusters,
    fresh,
    deferred,
    pending: count('pending'),
    rejected: count('rejected'),
    conflicts: count('conflict'),
    duplicates,
    untrustedStored,
  };
}
