import type { WorkloadConfig } from '../core/config/schema';
import type { DatasetManifest, SourceEntry } from '../core/dataset/manifest';
import type { ImageLimits } from '../core/images/normalize-image';
import { datasetKeys, newVersionName, type Split, SPLITS } from '../core/layout';
import type { Logger } from '../core/log';
import { NotFoundError, type ObjectStore, PreconditionFailedError, readJson, writeJson } from '../core/storage/object-store';
import type { Row } from '../core/warehouse/tables';
import type { Warehouse } from '../core/warehouse/warehouse';
import { mapConcurrent } from './concurrency';
import { extendLabelMap, type Lineage, readLineage } from './lineage';
import { readLabels } from './raw-inputs';
import { selectFresh } from './raw-inputs';
import { replayTarget, selectReplay, type ReplayCandidate } from './replay';
import { fetchReplay, imageKeyOfUri, missesByImage } from './replay-source';
import { type BuiltExample, sortKeys, writeShards } from './shards';
import { type Skip, SkipLog } from './skips';
import { InProcessTransformer, type Transformer } from './transform-pool';
import type { TransformOptions } from './transform';

/**
 * One preprocessing run: labelled raw images → a new immutable dataset version.
 *
 *   1. read earlier versions (lineage) and every label object;
 *   2. keep labelled images no version holds yet (one per content hash);
 *   3. transform each (the pure per-element function, in parallel);
 *   4. add hard-example replay from earlier versions;
 *   5. write the shards, then the manifest (last: the version exists from that moment),
 *      then the warehouse rows.
 * A crash before step 5's manifest leaves a folder no reader looks at.
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
  written: number;
  newExamples: number;
  replayExamples: number;
  duplicates: number;
  skipped: Record<string, number>;
  skips: Skip[];
  perClass: Record<string, number>;
  perSplit: Record<Split, number>;
  transformSeconds: number;
  totalSeconds: number;
  /** New images transformed per second (read, decode, resize, encode, Example). */
  imagesPerSecond: number;
}

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
  labelObjects: number;
  duplicates: number;
  /** Label objects skipped while planning. */
  skips: Skip[];
}

/** One new labelled image to transform. */
export interface PlannedItem {
  imageKey: string;
  imageUri: string;
  labelUri: string;
  label: string;
  sha256: string;
}

/** Steps 1-2: lineage, labels, the new images and the label map. Throws {@link NothingToPreprocessError}. */
export async function planRun(
  deps: PreprocessDeps,
  options: PreprocessOptions,
  lineage?: Lineage,
): Promise<{ plan: RunPlan; lineage: Lineage }> {
  const now = deps.now ?? (() => new Date());
  const skips = new SkipLog(deps.log);
  const progress = options.onProgress ?? (() => {});
  lineage ??= await readLineage(deps.datasets);
  progress({ phase: 'labels', done: 0, total: 1 });
  const { labels, objects } = await readLabels(deps.raw, skips);
  progress({ phase: 'labels', done: 1, total: 1 });
  const { fresh, duplicates } = selectFresh(labels, lineage.known, lineage.parent?.createdAt);
  if (fresh.length === 0) {
    throw new NothingToPreprocessError(
      `no labelled images since ${lineage.parent ? `dataset version ${lineage.parent.version}` : 'the start'} ` +
        `(${objects} label objects, ${skips.count} invalid, ${duplicates.length} duplicates): nothing to preprocess`,
    );
  }
  const plan: RunPlan = {
    version: options.version ?? newVersionName(now()),
    runId: options.runId,
    parentVersion: lineage.parent?.version ?? null,
    labelMap: extendLabelMap(
      lineage.labels,
      fresh.map((f) => f.label.label),
    ),
    items: fresh.map((f) => ({
      imageKey: f.label.imageKey,
      imageUri: f.imageUri,
      labelUri: f.labelUri,
      label: f.label.label,
      sha256: f.label.sha256,
    })),
    labelObjects: objects,
    duplicates: duplicates.length,
    skips: skips.skips,
  };
  deps.log?.info({ version: plan.version, parent: plan.parentVersion, fresh: fresh.length, duplicates: duplicates.length }, 'planned');
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
  const transformOptions: TransformOptions = {
    imageSize: settings.imageSize,
    jpegQuality: settings.jpegQuality,
    validationShare: settings.validationShare,
    testShare: settings.testShare,
    limits: options.limits,
  };
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
        split: result.split,
        label: result.label,
        payload: result.payload,
        uri: item.imageUri,
        origin: 'new',
      };
    } finally {
      progress({ phase: 'transform', done: ++done, total: items.length });
    }
  });
  return { examples: built.filter((b): b is BuiltExample => b !== undefined), skips: skips.skips, seconds: (Date.now() - started) / 1000 };
}

/**
 * Steps 4-5: replay, shards, manifest (last), warehouse rows. Refuses when another
 * version appeared since the plan (its examples would be missing from the lineage).
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
      `all ${plan.items.length} new labelled images were skipped (${JSON.stringify(skips.byReason())}): no version written`,
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

  // 4. Hard-example replay.
  const newShas = new Set(newExamples.map((e) => e.sha256));
  const misses = deps.warehouse ? await missesByImage(deps.warehouse) : new Map<string, number>();
  const pool: ReplayCandidate[] = [...lineage.known.values()]
    .filter((k) => !newShas.has(k.sha256))
    .map((k) => ({ ...k, misses: misses.get(imageKeyOfUri(k.uri) ?? '') ?? 0 }));
  const target = replayTarget(newExamples.length, settings.replayShare, pool.length);
  const selected = selectReplay(
    pool,
    target,
    version,
    countBy(newExamples, (e) => e.label),
  );
  progress({ phase: 'replay', done: 0, total: selected.length });
  const replayed = await fetchReplay(datasets, selected, labelIndex, skips);
  progress({ phase: 'replay', done: replayed.length, total: selected.length });
  const examples = [...newExamples, ...replayed];

  // 5. Shards, then the manifest, then the warehouse.
  const existing = await datasets.list(datasetKeys.prefix(version));
  if (existing.length > 0)
    throw new Error(`dataset version folder ${versionUri(datasets, version)} already has objects; versions are immutable`);
  const compression = settings.gzip ? 'GZIP' : 'NONE';
  let shardsDone = 0;
  const splits = await writeShards(datasets, examples, {
    version,
    compression,
    shardMaxBytes: settings.shardMaxBytes,
    onShard: () => progress({ phase: 'write', done: ++shardsDone, total: shardsDone }),
  });
  const sources: SourceEntry[] = examples
    .map((e) => ({ sha256: e.sha256, uri: e.uri, label: e.label, split: e.split, origin: e.origin }))
    .sort((a, b) => a.sha256.localeCompare(b.sha256));
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
    splits,
    sources,
    counts: {
      rawObjects: plan.labelObjects,
      written: examples.length,
      newExamples: newExamples.length,
      replayExamples: replayed.length,
      duplicates: plan.duplicates,
      skipped: skips.byReason(),
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
    written: examples.length,
    newExamples: newExamples.length,
    replayExamples: replayed.length,
    duplicates: plan.duplicates,
    skipped: skips.byReason(),
    skips: skips.skips,
    perClass: sortKeys(countBy(examples, (e) => e.label)),
    perSplit: Object.fromEntries(SPLITS.map((s) => [s, splits[s].count])) as Record<Split, number>,
    transformSeconds: transformed.seconds,
    imagesPerSecond: plan.items.length / Math.max(transformed.seconds, 1e-9),
  };
}

export class ParentClaimedError extends Error {
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
