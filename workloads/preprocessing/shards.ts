import type { SourceEntry, SplitManifest } from '../core/dataset/manifest';
import { datasetKeys, type Split, SPLITS } from '../core/layout';
import type { ObjectStore } from '../core/storage/object-store';
import { compress, type TFRecordCompression } from '../core/tfrecord/compression';
import { framedLength, frameRecords } from '../core/tfrecord/framing';
import { mapConcurrent } from './concurrency';

/** One example ready to store. */
export interface BuiltExample {
  sha256: string;
  split: Split;
  label: string;
  /** Serialized tf.train.Example. */
  payload: Buffer;
  /** Raw image URI. */
  uri: string;
  origin: 'new' | 'replay';
  phash?: string;
  source?: SourceEntry['source'];
  trustedBy?: SourceEntry['trustedBy'];
}

/**
 * Groups records into shards of at most `maxBytes` framed (uncompressed) bytes, in order.
 * A record larger than the limit gets a shard of its own rather than failing the run.
 */
export function planShards(sizes: readonly number[], maxBytes: number): number[][] {
  const shards: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  sizes.forEach((size, i) => {
    const framed = framedLength(size);
    if (current.length > 0 && bytes + framed > maxBytes) {
      shards.push(current);
      current = [];
      bytes = 0;
    }
    current.push(i);
    bytes += framed;
  });
  if (current.length > 0) shards.push(current);
  return shards;
}

export interface WriteShardsOptions {
  version: string;
  compression: TFRecordCompression;
  shardMaxBytes: number;
  /** Called after each shard is stored. */
  onShard?: (key: string, records: number) => void;
}

/**
 * Writes every split's shards. Examples are ordered by content hash inside a split, so the
 * same inputs give byte-identical shards. Each shard is written only if absent: a version
 * folder is never rewritten.
 */
export async function writeShards(
  datasets: ObjectStore,
  examples: readonly BuiltExample[],
  options: WriteShardsOptions,
): Promise<Record<Split, SplitManifest>> {
  const result = {} as Record<Split, SplitManifest>;
  const jobs: { key: string; records: BuiltExample[] }[] = [];
  for (const split of SPLITS) {
    const inSplit = examples.filter((e) => e.split === split).sort((a, b) => a.sha256.localeCompare(b.sha256));
    const plan = planShards(
      inSplit.map((e) => e.payload.length),
      options.shardMaxBytes,
    );
    const keys = plan.map((_, i) => datasetKeys.shard(options.version, split, i, plan.length, options.compression === 'GZIP'));
    plan.forEach((indices, i) => jobs.push({ key: keys[i], records: indices.map((j) => inSplit[j]) }));
    const perClass: Record<string, number> = {};
    for (const e of inSplit) perClass[e.label] = (perClass[e.label] ?? 0) + 1;
    result[split] = { shards: keys, count: inSplit.length, perClass: sortKeys(perClass) };
  }
  await mapConcurrent(jobs, 4, async (job) => {
    const body = compress(frameRecords(job.records.map((r) => r.payload)), options.compression);
    await datasets.write(job.key, body, { ifGenerationMatch: '0', contentType: 'application/octet-stream' });
    options.onShard?.(job.key, job.records.length);
  });
  return result;
}

export function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}
