import { datasetKeys, rawKeys } from '../core/layout';
import { deleteExpired } from '../core/storage/lifecycle';
import type { DataLake } from '../core/storage/data-lake';
import { LocalObjectStore } from '../core/storage/local-object-store';

/**
 * What buckets do by themselves on Google Cloud, and what a crash leaves behind, done by
 * `npm start` at start and every hour:
 *  - unlabelled uploads expire after inference.unlabelledUploadDays (the raw bucket's
 *    lifecycle rule on the same prefix in the cloud);
 *  - staging parts of a preprocessing run that never committed (a killed task) are deleted
 *    after a day (the datasets bucket's staging rule in the cloud);
 *  - temp and lock files of writes a `kill -9` interrupted are deleted after an hour
 *    (GCS has no such leftovers: an upload is one request).
 */
export const HOUSEKEEPING_EVERY_MS = 3_600_000;
export const STAGING_ABANDONED_AFTER_MS = 24 * 3_600_000;
export const LEFTOVERS_AFTER_MS = 3_600_000;

export interface HousekeepingReport {
  expiredUploads: number;
  abandonedStaging: number;
  leftovers: number;
}

export async function houseKeep(lake: DataLake, unlabelledUploadDays: number, now = Date.now()): Promise<HousekeepingReport> {
  const expiredUploads = await deleteExpired(lake.raw, rawKeys.uploadsPrefix, unlabelledUploadDays * 86_400_000, now);
  const abandonedStaging = await deleteExpired(lake.datasets, datasetKeys.stagingPrefix, STAGING_ABANDONED_AFTER_MS, now);
  let leftovers = 0;
  for (const store of Object.values(lake)) {
    if (store instanceof LocalObjectStore) leftovers += (await store.sweepLeftovers(LEFTOVERS_AFTER_MS, now)).length;
  }
  return { expiredUploads: expiredUploads.length, abandonedStaging: abandonedStaging.length, leftovers };
}
