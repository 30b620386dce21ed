import { SPLITS, type Split, datasetKeys } from '../layout';
import type { ObjectStore } from '../storage/object-store';
import { decompress } from '../tfrecord/compression';
import { readFramedRecords } from '../tfrecord/framing';
import { decodeDogExample } from './dog-example';
import type { DatasetManifest } from './manifest';
import type { DogExample } from './features';

/**
 * Reading dataset versions (the API training and evaluation use).
 *
 * A version exists for readers only once its `manifest.json` is written (it is written
 * last), so an interrupted preprocessing run is invisible here. Every record's CRCs are
 * verified; a corrupt shard throws `TFRecordCorruptError` naming the shard and offset.
 */

/** Complete versions (those with a manifest), oldest first (version names sort by time). */
export async function listDatasetVersions(store: ObjectStore): Promise<string[]> {
  const objects = await store.list(datasetKeys.versionsPrefix);
  const versions = objects.map((o) => datasetKeys.manifestVersion(o.key)).filter((v): v is string => v !== undefined);
  return versions.sort();
}

/** The newest complete version, or undefined when there is none. */
export async function latestDatasetVersion(store: ObjectStore): Promise<string | undefined> {
  const versions = await listDatasetVersions(store);
  return versions[versions.length - 1];
}

/** Reads and checks a version's manifest; throws naming the version when it is absent or malformed. */
export async function readManifest(store: ObjectStore, version: string): Promise<DatasetManifest> {
  const key = datasetKeys.manifest(version);
  const found = await store.readIfExists(key);
  if (!found) throw new Error(`dataset version ${version} does not exist (no ${store.uri(key)}); complete versions have a manifest`);
  let manifest: DatasetManifest;
  try {
    manifest = JSON.parse(found.data.toString('utf8')) as DatasetManifest;
  } catch (err) {
    throw new Error(`manifest ${store.uri(key)} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (manifest.format !== 'tfrecord' || manifest.version !== version || !Array.isArray(manifest.labels) || !manifest.splits) {
    throw new Error(
      `manifest ${store.uri(key)} is not a dataset manifest for version ${version} (format, version, labels and splits are required)`,
    );
  }
  for (const split of SPLITS) {
    if (!manifest.splits[split] || !Array.isArray(manifest.splits[split].shards)) {
      throw new Error(`manifest ${store.uri(key)} has no shard list for split ${split}`);
    }
  }
  return manifest;
}

/** Decoded examples of one split, shard by shard (one shard in memory at a time). */
export async function* readSplit(store: ObjectStore, manifest: DatasetManifest, split: Split): AsyncGenerator<DogExample> {
  for (const key of manifest.splits[split].shards) {
    for (const record of await readShardRecords(store, key, manifest.compression)) {
      yield decodeDogExample(record.data, `${store.uri(key)} record ${record.index} (offset ${record.offset})`);
    }
  }
}

/** Verified records of one shard (payloads are views into the shard's bytes). */
export async function readShardRecords(store: ObjectStore, key: string, compression: DatasetManifest['compression']) {
  const uri = store.uri(key);
  const body = decompress(await store.read(key), compression, uri);
  return Array.from(readFramedRecords(body, uri));
}
