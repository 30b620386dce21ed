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

/** Image ids and version names become object keys: keep them to a safe alphabet. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export function assertSafeId(kind: string, id: string): string {
  if (!SAFE_ID.test(id)) {
    throw new Error(`invalid ${kind} ${JSON.stringify(id)}: expected 1-128 characters of [A-Za-z0-9._-], starting with a letter or digit`);
  }
  return id;
}

/** Keys in the `raw` bucket. */
export const rawKeys = {
  /** The image bytes exactly as ingested (JPEG, PNG or WebP). */
  image: (id: string, ext: 'jpg' | 'png' | 'webp'): string => `images/${assertSafeId('image id', id)}.${ext}`,
  imagesPrefix: 'images/',
  /** Metadata of an upload awaiting a label (written by POST /classify). */
  upload: (id: string): string => `uploads/${assertSafeId('image id', id)}.json`,
  uploadsPrefix: 'uploads/',
  /** A label makes an image training data. Written once, with an if-absent precondition. */
  label: (id: string): string => `labels/${assertSafeId('image id', id)}.json`,
  labelsPrefix: 'labels/',
};

/** Keys in the `datasets` bucket. */
export const datasetKeys = {
  versionsPrefix: 'versions/',
  prefix: (version: string): string => `versions/${assertSafeId('dataset version', version)}/`,
  /** Written last: a version without a manifest does not exist for readers. */
  manifest: (version: string): string => `${datasetKeys.prefix(version)}manifest.json`,
  shard: (version: string, split: Split, index: number, count: number, gzip: boolean): string =>
    `${datasetKeys.prefix(version)}${split}/${split}-${pad(index)}-of-${pad(count)}.tfrecord${gzip ? '.gz' : ''}`,
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
  prefix: (version: string): string => `versions/${assertSafeId('model version', version)}/`,
  file: (version: string, name: string): string => `${modelKeys.prefix(version)}${name}`,
  pointer: (role: RegistryRole): string => `registry/${role}.json`,
  historyPrefix: 'registry/history/',
  history: (stamp: string, event: string): string => `registry/history/${stamp}-${event}.json`,
};

/** Keys in the `pipeline` bucket (the pipeline root). */
export const pipelineKeys = {
  spec: 'specs/continual-learning.json',
  runPrefix: (runId: string): string => `runs/${assertSafeId('run id', runId)}/`,
  runRecord: (runId: string): string => `runs/${assertSafeId('run id', runId)}/run.json`,
  stepOutputs: (runId: string, step: string): string => `runs/${assertSafeId('run id', runId)}/${step}/outputs.json`,
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
