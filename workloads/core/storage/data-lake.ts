import * as path from 'node:path';
import type { WorkloadConfig } from '../config/schema';
import { BucketName, BUCKETS } from '../layout';
import { GcsObjectStore } from './gcs-object-store';
import { LocalObjectStore } from './local-object-store';
import type { ObjectStore } from './object-store';

/** The data lake: one {@link ObjectStore} per logical bucket. */
export type DataLake = Record<BucketName, ObjectStore>;

/** Builds the data lake the config names: directories under the data root, or GCS buckets. */
export function openDataLake(config: Pick<WorkloadConfig, 'dataRoot' | 'storage'>): DataLake {
  if (config.storage.backend === 'gcs') {
    // Loaded lazily so local runs never pay for the GCS client's start-up.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Storage } = require('@google-cloud/storage') as typeof import('@google-cloud/storage');
    const storage = new Storage();
    return Object.fromEntries(BUCKETS.map((b) => [b, new GcsObjectStore(storage, config.storage.buckets[b])])) as unknown as DataLake;
  }
  return Object.fromEntries(
    BUCKETS.map((b) => [b, new LocalObjectStore(path.resolve(config.dataRoot, config.storage.buckets[b]))]),
  ) as unknown as DataLake;
}
