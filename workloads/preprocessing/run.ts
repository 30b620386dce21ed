import { createHash } from 'node:crypto';
import { trustSchema, type WorkloadConfig } from '../core/config/schema';
import type { DatasetManifest, EvaluationSetSummary, SourceEntry, SplitManifest } from '../core/dataset/manifest';
import type { ImageLimits } from '../core/images/normalize-image';
import { datasetKeys, newVersionName, type Split, SPLITS } from '../core/layout';
import type { Logger } from '../core/log';
import { NotFoundError, type ObjectStore, PreconditionFailedError, readJson, writeJson } from '../core/storage/object-store';
import type { Row } from '../core/warehouse/tables';
import type { Warehouse } from '../core/warehouse/warehouse';
import { allocateSplits, type ClassCounts, splitKey } from './allocate';
import { fetchStored } from './carry';
import { mapConcurrent } from './concurrency';
import { missesByImage, samplingWeights } from './curation';
import { type FreshItem, type IntakeSettings, readIntake } from './intake';
import { extendLabelMap, type KnownExample, type Lineage, readLineage } from './lineage';
import { type BuiltExample, sortKeys, writeShards } from './shards';
import { type Skip, SkipLog } from './skips';
import { InProcessTransformer, type Transformer } from './transform-pool';
import type { TransformOptions } from './transform';

/**
 * One preprocessing run: trusted labelled photos → a new immutable dataset version that is a
 * snapshot of everything the loop trusts to date.
 *
 *   1. intake (intake.ts): the parent version, every label object and review, which photos
 *      are trusted and in no version yet (near-duplicates are one photo), which wait;
 *   2. allocate each new photo's split (allocate.ts: the evaluation set is stratified per class);
 *   3. transform each new photo (the pure per-element function, in parallel);
 *   4. write the new photos' shards only; the version lists the parent's shards by reference
 *      and its own after them, with sampling weights for hard examples (curation.ts);
 *   5. write the manifest, then the claim that commits it as the parent's one child, then the
 *      warehouse rows.
 * A crash before the claim leaves a folder no reader looks at. A run's cost grows with the
 * new photos only: nothing already stored is read or written again.
 */

export type Phase = 'labels' | 'transform' | 'replay' | 'write';
export interface Progress {
  phase: Phase;
  done: number;
  total: number;
}

export interface PreprocessDeps {
  raw: ObjectStore;
  datasets: ObjectStore;
  /** Prediction log for hard examples and the destination of version rows; optional for offline rebuilds. */
  warehouse?: Warehouse;
  transformer?: Transformer;
  log?: Logger;
  now?: () => Date;
}

export interface PreprocessOptions {
  runId: string | null;
  settings: WorkloadConfig['preprocessing'];
  /** Label trust policies (default: the configured defaults). */
  trust?: WorkloadConfig['trust'];
  limits: ImageLimits;
  /** Images in flight at once. */
  concurrency?: number;
  /** Version name (default: time-sortable `newVersionName()`). */
  version?: string;
  onProgress?: (p: Progress) => void;
}

export interface PreprocessSummary {
  version: string;
  parentVersion: string | null;
  manifestUri: string;
  labelObjects: number;
  /** New labelled images whose bytes were read and transformed. */
  imagesRead: number;
  /** Examples in the version (all trusted data to date). */
  written: number;
  newExamples: number;
  /** Examples held by reference to the parent's shards. */
  inheritedExamples: number;
  /** Examples copied from versions made before snapshots. */
  replayExamples: number;
  duplicates: number;
  /** Users' photos no trust policy has confirmed yet (left out). */
  pending: number;
  /** New breeds still waiting for enough photos (label → photos). */
  deferred: Record<string, number>;
  skipped: Record<string, number>;
  skips: Skip[];
  perClass: Record<string, number>;
  perSplit: Record<Split, number>;
  transformSeconds: number;
  totalSeconds: number;
  /** New images transformed per second (read, decode, resize, encode, Example). */
  imagesPerSecond: number;
}

/** Nothing new and trusted to add: the loop waits for data (exit code 3; not a failure). */
export class NothingToPreprocessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NothingToPreprocessError';
  }
}

/** Everything a run decided before touching image bytes (serializable: staged runs store it as JSON). */
export interface RunPlan {
  version: string;
  runId: string | null;
  parentVersion: string | null;
  labelMap: string[];
  items: PlannedItem[];
  /** Examples of versions made before snapshots, copied into this one (the first snapshot) once. */
  carry: KnownExample[];
  labelObjects: number;
  duplicates: number;
  pending: number;
  deferred: Record<string, number>;
  /** Label objects skipped while planning. */
  skips: Skip[];
}

/** One new trusted photo to transform, with the split it goes to. */
export type PlannedItem = FreshItem & { split: Split };

const intakeSettings = (options: PreprocessOptions): IntakeSettings => ({
  preprocessing: options.settings,
  trust: options.trust ?? trustSchema.parse({}),
  images: { maxPixels: options.limits.maxPixels },
});

/** Steps 1-2: intake, splits and the label map. Throws {@link NothingToPreprocessError}. */
export async function planRun(
  deps: PreprocessDeps,
  options: PreprocessOptions,
  lineage?: Lineage,
): Promise<{ plan: RunPlan; lineage: Lineage }> {
  const now = deps.now ?? (() => new Date());
  const progress = options.onProgress ?? (() => {});
  progress({ phase: 'labels', done: 0, total: 1 });
  const intake = await readIntake(deps, intakeSettings(options), { log: deps.log, lineage });
  lineage = intake.lineage;
  progress({ phase: 'labels', done: 1, total: 1 });
  if (intake.fresh.length === 0) {
    const waiting = Object.entries(intake.deferred).map(([l, n]) => `${l} ${n}`);
    throw new NothingToPreprocessError(
      `waiting for data: no new trusted photos since ${lineage.parent ? `dataset version ${lineage.parent.version}` : 'the start'} ` +
        `(${intake.labelObjects} label objects, ${intake.skips.length} invalid, ${intake.duplicates} duplicates, ` +
        `${intake.pending} users' photos awaiting trust${waiting.length ? `, new breeds below ${options.settings.minClassExamples} photos: ${waiting.join(', ')}` : ''})`,
    );
  }
  const carry =
    lineage.parent && !lineage.parent.snapshot ? [...lineage.known.values()].filter((k) => !intake.untrustedStored.has(k.sha256)) : [];
  const counts = new Map<string, ClassCounts>();
  for (const k of lineage.parent?.snapshot ? lineage.known.values() : carry) {
    const c = counts.get(k.label) ?? { total: 0, test: 0 };
    counts.set(k.label, { total: c.total + 1, test: c.test + (k.split === 'test' ? 1 : 0) });
  }
  const splits = allocateSplits(intake.fresh, counts, options.settings, await splitKey(deps.datasets));
  const plan: RunPlan = {
    version: options.version ?? newVersionName(now()),
    runId: options.runId,
    parentVersion: lineage.parent?.version ?? null,
    labelMap: extendLabelMap(lineage.labels, [...carry.map((k) => k.label), ...intake.fresh.map((f) => f.label)]),
    items: intake.fresh.map((f) => ({ ...f, split: splits.get(f)! })),
    carry,
    labelObjects: intake.labelObjects,
    duplicates: intake.duplicates,
    pending: intake.pending,
    deferred: intake.deferred,
    skips: intake.skips,
  };
  deps.log?.info(
    {
      version: plan.version,
      parent: plan.parentVersion,
      fresh: plan.items.length,
      carry: carry.length,
      pending: plan.pending,
      deferred: plan.deferred,
    },
    'planned',
  );
  return { plan, lineage };
}

export interface TransformOutput {
  examples: BuiltExample[];
  skips: Skip[];
  seconds: number;
}

/**
 * Step 3: the per-element transform over the planned items (or the subset a task owns).
 * Reads each image and hands it to the transformer; never throws for a bad object.
 */
export async function transformPlanned(
  deps: PreprocessDeps,
  plan: RunPlan,
  options: PreprocessOptions,
  items: readonly PlannedItem[] = plan.items,
): Promise<TransformOutput> {
  const skips = new SkipLog(deps.log);
  const progress = options.onProgress ?? (() => {});
  const settings = options.settings;
  const labelIndex = new Map(plan.labelMap.map((l, i) => [l, i]));
  const transformer = deps.transformer ?? new InProcessTransformer();
  const transformOptions: TransformOptions = { imageSize: settings.imageSize, jpegQuality: settings.jpegQuality, limits: options.limits };
  const started = Date.now();
  let done = 0;
  const built = await mapConcurrent(items, options.concurrency ?? 8, async (item): Promise<BuiltExample | undefined> => {
    try {
      let bytes: Buffer;
      try {
        bytes = await deps.raw.read(item.imageKey);
      } catch (err) {
        if (err instanceof NotFoundError) skips.add(item.imageUri, 'missing_image', `${item.labelUri} labels an image that does not exist`);
        else skips.add(item.imageUri, 'read_error', `the image cannot be read: ${(err as Error).message}`);
        return undefined;
      }
      const result = await transformer.transform(
        { uri: item.imageUri, bytes, label: item.label, labelIndex: labelIndex.get(item.label)!, expectedSha256: item.sha256 },
        transformOptions,
      );
      if (!result.ok) {
        skips.add(item.imageUri, result.reason, result.message);
        return undefined;
      }
      return {
        sha256: result.sha256,
        split: item.split,
        label: result.label,
        payload: result.payload,
        uri: item.imageUri,
        origin: 'new',
        phash: item.phash,
        source: item.source,
        trustedBy: item.trustedBy,
      };
    } finally {
      progress({ phase: 'transform', done: ++done, total: items.length });
    }
  });
  return { examples: built.filter((b): b is BuiltExample => b !== undefined), skips: skips.skips, seconds: (Date.now() - started) / 1000 };
}

/**
 * Steps 4-5: shards of the new photos, the snapshot's manifest (the parent's shards by
 * reference, then its own), the claim, the warehouse rows. Refuses when another version
 * appeared since the plan (its examples would be missing from the snapshot).
 */
export async function commitRun(
  deps: PreprocessDeps,
  plan: RunPlan,
  transformed: TransformOutput,
  options: PreprocessOptions,
  lineage?: Lineage,
): Promise<Omit<PreprocessSummary, 'totalSeconds'>> {
  const now = deps.now ?? (() => new Date());
  const progress = options.onProgress ?? (() => {});
  const settings = options.settings;
  const { datasets } = deps;
  const skips = new SkipLog(deps.log);
  skips.merge(plan.skips);
  skips.merge(transformed.skips);
  const newExamples = transformed.examples;
  if (newExamples.length === 0) {
    throw new NothingToPreprocessError(
      `waiting for data: all ${plan.items.length} new trusted photos were skipped (${JSON.stringify(skips.byReason())}): no version written`,
    );
  }
  lineage ??= await readLineage(datasets);
  if ((lineage.parent?.version ?? null) !== plan.parentVersion) {
    throw new Error(
      `dataset version ${lineage.parent?.version} was written after this run planned on ${plan.parentVersion ?? '(none)'}; re-run preprocessing`,
    );
  }
  const version = plan.version;
  const labelIndex = new Map(plan.labelMap.map((l, i) => [l, i]));

  // The first snapshot after versions that each held a slice: copy their trusted examples in, once.
  progress({ phase: 'replay', done: 0, total: plan.carry.length });
  const carried = plan.carry.length > 0 ? await fetchStored(datasets, plan.carry, labelIndex, skips) : [];
  progress({ phase: 'replay', done: carried.length, total: plan.carry.length });
  const own = [...newExamples, ...carried];

  const existing = await datasets.list(datasetKeys.prefix(version));
  if (existing.length > 0)
    throw new Error(`dataset version folder ${versionUri(datasets, version)} already has objects; versions are immutable`);
  const compression = settings.gzip ? 'GZIP' : 'NONE';
  let shardsDone = 0;
  const ownSplits = await writeShards(datasets, own, {
    version,
    compression,
    shardMaxBytes: settings.shardMaxBytes,
    onShard: () => progress({ phase: 'write', done: ++shardsDone, total: shardsDone }),
  });
  const parent = lineage.parent?.snapshot ? lineage.parent : null;
  if (parent && parent.compression !== compression) {
    throw new Error(
      `preprocessing.gzip changed since ${parent.version} (${parent.compression}): a snapshot references its parent's shards, so their compression must match`,
    );
  }
  const splits = Object.fromEntries(SPLITS.map((s) => [s, mergeSplit(parent?.splits[s], ownSplits[s])])) as Record<Split, SplitManifest>;
  const ownSources: SourceEntry[] = own.map((e) => ({
    sha256: e.sha256,
    uri: e.uri,
    label: e.label,
    split: e.split,
    origin: e.origin,
    version,
    ...(e.phash ? { phash: e.phash } : {}),
    ...(e.source ? { source: e.source } : {}),
    ...(e.trustedBy ? { trustedBy: e.trustedBy } : {}),
  }));
  const inherited: SourceEntry[] = (parent?.sources ?? []).map((s) => ({
    ...s,
    origin: 'inherited',
    version: s.version ?? parent!.version,
  }));
  const sources = [...inherited, ...ownSources].sort((a, b) => a.sha256.localeCompare(b.sha256));

  const misses = deps.warehouse ? await missesByImage(deps.warehouse) : new Map<string, number>();
  const sampling = samplingWeights(sources, misses, settings.hardExampleWeight);
  const samplingKey = `${datasetKeys.prefix(version)}sampling.json`;
  if (Object.keys(sampling.weights).length > 0) await writeJson(datasets, samplingKey, sampling, { ifGenerationMatch: '0' });

  const manifest: DatasetManifest = {
    version,
    parentVersion: plan.parentVersion,
    claim: datasetKeys.claim(plan.parentVersion),
    createdAt: now().toISOString(),
    runId: plan.runId,
    format: 'tfrecord',
    compression,
    imageSize: settings.imageSize,
    labels: plan.labelMap,
    snapshot: true,
    splits,
    sources,
    evaluation: evaluationSummary(sources),
    ...(Object.keys(sampling.weights).length > 0 ? { sampling: samplingKey } : {}),
    counts: {
      rawObjects: plan.labelObjects,
      written: sources.length,
      newExamples: newExamples.length,
      inheritedExamples: inherited.length,
      replayExamples: carried.length,
      duplicates: plan.duplicates,
      skipped: skips.byReason(),
      pending: plan.pending,
      deferred: plan.deferred,
    },
  };
  const manifestKey = datasetKeys.manifest(version);
  await writeJson(datasets, manifestKey, manifest, { ifGenerationMatch: '0' });
  await claimParent(datasets, manifest);
  deps.log?.info({ version, manifest: datasets.uri(manifestKey) }, 'dataset version written');
  if (deps.warehouse) await recordVersion(deps.warehouse, datasets, manifest);

  return {
    version,
    parentVersion: manifest.parentVersion,
    manifestUri: datasets.uri(manifestKey),
    labelObjects: plan.labelObjects,
    imagesRead: plan.items.length,
    written: sources.length,
    newExamples: newExamples.length,
    inheritedExamples: inherited.length,
    replayExamples: carried.length,
    duplicates: plan.duplicates,
    pending: plan.pending,
    deferred: plan.deferred,
    skipped: skips.byReason(),
    skips: skips.skips,
    perClass: sortKeys(countBy(sources, (e) => e.label)),
    perSplit: Object.fromEntries(SPLITS.map((s) => [s, splits[s].count])) as Record<Split, number>,
    transformSeconds: transformed.seconds,
    imagesPerSecond: plan.items.length / Math.max(transformed.seconds, 1e-9),
  };
}

/** A split of a snapshot: the parent's shards (by reference), then this version's own. */
function mergeSplit(parent: SplitManifest | undefined, own: SplitManifest): SplitManifest {
  if (!parent) return own;
  const perClass: Record<string, number> = { ...parent.perClass };
  for (const [label, n] of Object.entries(own.perClass)) perClass[label] = (perClass[label] ?? 0) + n;
  return { shards: [...parent.shards, ...own.shards], count: parent.count + own.count, perClass: sortKeys(perClass) };
}

function evaluationSummary(sources: readonly SourceEntry[]): EvaluationSetSummary {
  const test = sources
    .filter((s) => s.split === 'test')
    .map((s) => s.sha256)
    .sort();
  return {
    n: test.length,
    perClass: sortKeys(
      countBy(
        sources.filter((s) => s.split === 'test'),
        (s) => s.label,
      ),
    ),
    digest: createHash('sha256').update(test.join('\n')).digest('hex'),
  };
}

class ParentClaimedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParentClaimedError';
  }
}

/**
 * The commit point: the claim naming this version as its parent's only child, written
 * if-absent. The lineage check before it is not enough on its own: two runs that planned
 * on the same parent both pass it when they commit together. The loser's manifest is
 * deleted (readers ignore it anyway: no claim names it).
 */
async function claimParent(datasets: ObjectStore, manifest: DatasetManifest): Promise<void> {
  const key = manifest.claim!;
  try {
    await writeJson(
      datasets,
      key,
      { version: manifest.version, parentVersion: manifest.parentVersion, claimedAt: manifest.createdAt },
      {
        ifGenerationMatch: '0',
      },
    );
  } catch (err) {
    if (!(err instanceof PreconditionFailedError)) throw err;
    const winner = (await readJson<{ version?: string }>(datasets, key))?.version ?? '(unknown)';
    await datasets.delete(datasetKeys.manifest(manifest.version)).catch(() => undefined);
    const parent = manifest.parentVersion === null ? 'the empty dataset bucket' : `dataset version ${manifest.parentVersion}`;
    throw new ParentClaimedError(
      `${parent} already has the child ${winner}, committed by another run while this one (${manifest.version}) ran; ` +
        'nothing was committed: re-run preprocessing to build on it',
    );
  }
}

/** A whole run in one process: plan, transform, commit. */
export async function runPreprocessing(deps: PreprocessDeps, options: PreprocessOptions): Promise<PreprocessSummary> {
  const started = Date.now();
  const { plan } = await planRun(deps, options);
  const transformed = await transformPlanned(deps, plan, options);
  // Lineage is read again at commit: a version another run wrote meanwhile is detected, not overwritten in spirit.
  const summary = await commitRun(deps, plan, transformed, options);
  return { ...summary, totalSeconds: (Date.now() - started) / 1000 };
}

/** The version's warehouse rows: one `dataset_versions` row, one `class_distribution` row per class and split. */
export async function recordVersion(warehouse: Warehouse, datasets: ObjectStore, m: DatasetManifest): Promise<void> {
  const ts = new Date(m.createdAt);
  const row: Row<'dataset_versions'> = {
    ts,
    dataset_version: m.version,
    parent_version: m.parentVersion,
    uri: versionUri(datasets, m.version),
    num_examples: m.counts.written,
    num_train: m.splits.train.count,
    num_validation: m.splits.validation.count,
    num_test: m.splits.test.count,
    num_classes: m.labels.length,
    new_examples: m.counts.newExamples,
    replay_examples: m.counts.replayExamples,
    inherited_examples: m.counts.inheritedExamples ?? 0,
    pending_labels: m.counts.pending ?? 0,
    skipped: Object.values(m.counts.skipped).reduce((a, b) => a + b, 0),
    run_id: m.runId,
  };
  const distribution: Row<'class_distribution'>[] = SPLITS.flatMap((split) =>
    Object.entries(m.splits[split].perClass).map(([label, count]) => ({ ts, dataset_version: m.version, label, split, count })),
  );
  await warehouse.insert('dataset_versions', [row]);
  if (distribution.length > 0) await warehouse.insert('class_distribution', distribution);
}

/** URI of a version folder (`gs://bucket/versions/v…/`, `file:///…/versions/v…/`). */
export const versionUri = (datasets: ObjectStore, version: string): string =>
  `${datasets.uri(datasetKeys.prefix(version).replace(/\/$/, ''))}/`;

function countBy<T>(items: readonly T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1;
  return out;
}
