import * as path from 'node:path';
import type { WorkloadConfig } from '../config/schema';
import { BucketName, BUCKETS } from '../layout';
import { GcsObjectStore } from './gcs-object-store';
import { LocalObjectStore } from './local-object-store';
import type { ObjectStore } from './object-store';
import { gcsClient } from './gcs-client';

/** The data lake: one {@link ObjectStore} per logical bucket. */
export type DataLake = Record<BucketName, ObjectStore>;

/** Builds the data lake the config names: directories under the data root, or GCS buckets. */
export function openDataLake(config: Pick<WorkloadConfig, 'dataRoot' | 'storage'>): DataLake {
  if (config.storage.backend === 'gcs') {
    const storage = gcsClient();
    return Object.fromEntries(BUCKETS.map((b) => [b, new GcsObjectStore(storage, config.storage.buckets[b])])) as unknown as DataLake;
  }
  return Object.fromEntries(
    BUCKETS.map((b) => [b, new LocalObjectStore(path.resolve(config.dataRoot, config.storage.buckets[b]))]),
  ) as unknown as DataLake;
}
