/**
 * The data lake's object layout, defined once.
 *
 * Every workload, the Pulumi components and the local runner derive bucket names and
 * object keys from here. Locally each bucket is a directory under the data root; on
 * Google Cloud each is a GCS bucket. Keys are identical in both.
 */

/** Logical buckets of the data lake. */
export const BUCKETS = ['raw', 'datasets', 'models', 'pipeline'] as const;
export type BucketName = (typeof BUCKETS)[number];

/** What each bucket holds (used for labels and documentation in the data-lake component). */
export const BUCKET_PURPOSE: Record<BucketName, string> = {
  raw: 'ingested images, upload metadata and labels',
  datasets: 'immutable, versioned TFRecord datasets',
  models: 'model versions and the registry pointers',
  pipeline: 'pipeline root: run records, step outputs, compiled pipeline spec',
};

export const SPLITS = ['train', 'validation', 'test'] as const;
export type Split = (typeof SPLITS)[number];

export const REGISTRY_ROLES = ['production', 'challenger'] as const;
export type RegistryRole = (typeof REGISTRY_ROLES)[number];

const pad = (n: number, width = 5): string => String(n).padStart(width, '0');

/**
 * Image ids, run ids and version names become object keys: they keep to a safe alphabet.
 * The one definition: zod schemas (`SAFE_ID`), JSON Schemas (`SAFE_ID.source`), the
 * command lines (`assertSafeId`) and the key parsers below use it.
 */
const SAFE_ID_CHARS = '[A-Za-z0-9][A-Za-z0-9._-]{0,127}';
export const SAFE_ID = new RegExp(`^${SAFE_ID_CHARS}$`);
/** What {@link SAFE_ID} accepts, in words, for error messages. */
export const SAFE_ID_RULE = '1-128 characters of [A-Za-z0-9._-], starting with a letter or digit';

export function assertSafeId(kind: string, id: string): string {
  if (!SAFE_ID.test(id)) throw new Error(`invalid ${kind} ${JSON.stringify(id)}: expected ${SAFE_ID_RULE}`);
  return id;
}

/** Image formats kept as ingested, by file extension. */
export const IMAGE_EXTENSIONS = ['jpg', 'png', 'webp'] as const;
export type ImageExtension = (typeof IMAGE_EXTENSIONS)[number];

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const patterns = new Map<string, RegExp>();
/** A key `<before><safe id><after>` → the id, else undefined. */
function idBetween(before: string, after: string, key: string): string | undefined {
  const name = `${before}\n${after}`;
  let re = patterns.get(name);
  if (!re) patterns.set(name, (re = new RegExp(`^${escape(before)}(${SAFE_ID_CHARS})${escape(after)}$`)));
  return re.exec(key)?.[1];
}

/** Keys in the `raw` bucket. */
export const rawKeys = {
  /** The image bytes exactly as ingested (JPEG, PNG or WebP). */
  image: (id: string, ext: ImageExtension): string => `${rawKeys.imagesPrefix}${assertSafeId('image id', id)}.${ext}`,
  imagesPrefix: 'images/',
  /** Whether `key` is an image key (`images/<id>.<jpg|png|webp>`). */
  isImageKey: (key: string): boolean => IMAGE_EXTENSIONS.some((ext) => idBetween(rawKeys.imagesPrefix, `.${ext}`, key) !== undefined),
  /** Metadata of an upload awaiting a label (written by POST /classify). */
  upload: (id: string): string => `${rawKeys.uploadsPrefix}${assertSafeId('image id', id)}.json`,
  /** An upload's image until it is labelled: a bounded re-encoded copy, never the client's bytes. */
  uploadImage: (id: string): string => `${rawKeys.uploadsPrefix}${assertSafeId('image id', id)}.jpg`,
  /** Uploads expire after inference.unlabelledUploadDays (a labelled upload's image is copied to images/ first). */
  uploadsPrefix: 'uploads/',
  /** A label makes an image training data. Written once, with an if-absent precondition. */
  label: (id: string): string => `${rawKeys.labelsPrefix}${assertSafeId('image id', id)}.json`,
  labelsPrefix: 'labels/',
  /** `labels/<id>.json` → the image id (undefined for any other key). */
  labelId: (key: string): string | undefined => idBetween(rawKeys.labelsPrefix, '.json', key),
  /** An operator's review of a user's label (approve, with the label, or reject); the latest one counts. */
  review: (id: string): string => `reviews/${assertSafeId('image id', id)}.json`,
  reviewsPrefix: 'reviews/',
  /** Random key of the pseudonymous voter ids (inference/voters.ts), made once per stack. */
  voterKey: 'keys/voter-key.json',
};

/**
 * Warehouse rows the inference service could not write when the warehouse failed, kept in
 * the raw bucket until an instance replays them (workloads/inference/event-sink.ts).
 */
export const spillKeys = {
  batchesPrefix: 'warehouse-spill/batches/',
  batch: (id: string): string => `warehouse-spill/batches/${assertSafeId('spill batch', id)}.json`,
  /** Written ahead: rows acknowledged and not yet written; deleted once they are (event-sink.ts). */
  pendingPrefix: 'warehouse-spill/pending/',
  pending: (id: string): string => `warehouse-spill/pending/${assertSafeId('pending batch', id)}.json`,
  leasesPrefix: 'warehouse-spill/leases/',
  /** Held by the instance replaying a batch. */
  lease: (id: string): string => `${spillKeys.leasesPrefix}${assertSafeId('spill batch', id)}.json`,
};

/** Keys in the `datasets` bucket. */
export const datasetKeys = {
  versionsPrefix: 'versions/',
  prefix: (version: string): string => `${datasetKeys.versionsPrefix}${assertSafeId('dataset version', version)}/`,
  /** Written last: a version without a manifest does not exist for readers. */
  manifest: (version: string): string => `${datasetKeys.prefix(version)}manifest.json`,
  /** `versions/<version>/manifest.json` → the version (undefined for any other key). */
  manifestVersion: (key: string): string | undefined => idBetween(datasetKeys.versionsPrefix, '/manifest.json', key),
  shard: (version: string, split: Split, index: number, count: number, gzip: boolean): string =>
    `${datasetKeys.prefix(version)}${split}/${split}-${pad(index)}-of-${pad(count)}.tfrecord${gzip ? '.gz' : ''}`,
  /**
   * Work in progress of a staged preprocessing run (plan, per-task parts), outside
   * `versions/` so it is never visible as a dataset; deleted by the commit stage, and by a
   * lifecycle rule when a run is abandoned.
   */
  stagingPrefix: 'staging/',
  /** Random key of the split assignment, made once per stack: which split a new photo gets cannot be predicted from outside. */
  splitKey: 'keys/split-key.json',
  claimsPrefix: 'claims/',
  /**
   * The commit point of a version: written once (if-absent) after its manifest, naming it
   * as the one child of its parent (`null`: the first version). Of two runs that planned on
   * the same parent only one can write it; the other's manifest is never a version.
   */
  claim: (parent: string | null): string =>
    parent === null ? 'claims/first.json' : `claims/child-of-${assertSafeId('dataset version', parent)}.json`,
};

/** Keys of a staged preprocessing run's work in progress, in the `datasets` bucket. */
export const stagingKeys = {
  prefix: (version: string): string => `${datasetKeys.stagingPrefix}${assertSafeId('dataset version', version)}/`,
  plan: (version: string): string => `${stagingKeys.prefix(version)}plan.json`,
  part: (version: string, index: number, count: number, ext: 'tfrecord' | 'json'): string =>
    `${stagingKeys.prefix(version)}part-${pad(index)}-of-${pad(count)}.${ext}`,
};

/** Files inside a model version folder. */
export const MODEL_FILES = {
  topology: 'model.json',
  labels: 'labels.json',
  config: 'training-config.json',
  metrics: 'metrics.json',
  card: 'MODEL_CARD.md',
  confusion: 'confusion-matrix.png',
  curves: 'training-curves.png',
  /** Written last: the registry never points at a version without it. */
  complete: 'COMPLETE.json',
} as const;

/** Keys in the `models` bucket. */
export const modelKeys = {
  versionsPrefix: 'versions/',
  prefix: (version: string): string => `${modelKeys.versionsPrefix}${assertSafeId('model version', version)}/`,
  file: (version: string, name: string): string => `${modelKeys.prefix(version)}${name}`,
  pointer: (role: RegistryRole): string => `registry/${role}.json`,
  historyPrefix: 'registry/history/',
  history: (stamp: string, event: string): string => `${modelKeys.historyPrefix}${stamp}-${event}.json`,
  /** Evaluation records: what `evaluate` decided for a model version in a run, read by `promote`. */
  evaluationsPrefix: 'evaluations/',
  evaluations: (version: string): string => `${modelKeys.evaluationsPrefix}${assertSafeId('model version', version)}/`,
  evaluation: (version: string, runId: string): string => `${modelKeys.evaluations(version)}${assertSafeId('run id', runId)}.json`,
  /** A training run's checkpoint, one object, replaced atomically each epoch. */
  checkpointsPrefix: 'checkpoints/',
  checkpoint: (runId: string): string => `${modelKeys.checkpointsPrefix}${assertSafeId('run id', runId)}/checkpoint.bin`,
  /** Trunk activations cached by image content, per trunk (append-only chunks). */
  featureCachePrefix: 'cache/features/',
  featureCache: (trunkKey: string): string => `${modelKeys.featureCachePrefix}${assertSafeId('trunk key', trunkKey)}/`,
  /**
   * Pretrained backbones the stack uploads (`pulumi up`), keyed by the digest of their files
   * and laid out below it as in the local models directory (`<digest>/mobilenet_v2_100/…`).
   * Content-addressed: a changed backbone gets a new prefix, and a model version that
   * recorded the old location keeps loading it.
   */
  backbonesPrefix: 'backbones/',
  backbones: (digest: string): string => `${modelKeys.backbonesPrefix}${assertSafeId('backbone digest', digest)}/`,
};

/** Keys in the `pipeline` bucket (the pipeline root). */
export const pipelineKeys = {
  spec: 'specs/continual-learning.json',
  runsPrefix: 'runs/',
  runPrefix: (runId: string): string => `${pipelineKeys.runsPrefix}${assertSafeId('run id', runId)}/`,
  runRecord: (runId: string): string => `${pipelineKeys.runPrefix(runId)}run.json`,
  stepOutputs: (runId: string, step: string): string => `${pipelineKeys.runPrefix(runId)}${step}/outputs.json`,
  /** Vertex AI's `gcsOutputDirectory` (the pipeline root Vertex writes its job outputs under). */
  vertexRoot: 'vertex',
  vertexRootPrefix: 'vertex/',
};

/** Version names sort by time: `v20261123T160912Z-ab12`. */
export function newVersionName(now: Date = new Date(), suffix?: string): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const tail = suffix ?? Math.random().toString(36).slice(2, 6);
  return `v${stamp}-${tail}`;
}
