import { SPLITS, type Split, datasetKeys } from '../layout';
import { type ObjectStore, readJson } from '../storage/object-store';
import { decompress } from '../tfrecord/compression';
import { readFramedRecords } from '../tfrecord/framing';
import { decodeDogExample } from './dog-example';
import type { DatasetManifest, SamplingWeights } from './manifest';
import type { DogExample } from './features';

/**
 * Reading dataset versions (the API training and evaluation use).
 *
 * A version exists for readers only once its `manifest.json` is written (it is written
 * last), so an interrupted preprocessing run is invisible here. Every record's CRCs are
 * verified; a corrupt shard throws `TFRecordCorruptError` naming the shard and offset.
 */

/** The claim objects: which version each parent's one child is. */
async function claimedChildren(store: ObjectStore): Promise<Set<string>> {
  const children = new Set<string>();
  for (const o of await store.list(datasetKeys.claimsPrefix)) {
    const claim = await readJson<{ version?: unknown }>(store, o.key);
    if (typeof claim?.version === 'string') children.add(claim.version);
  }
  return children;
}

/** Whether a manifest is a committed version: its claim names it (or it predates claims). */
async function isCommitted(store: ObjectStore, manifest: Pick<DatasetManifest, 'version' | 'claim'>): Promise<boolean> {
  if (manifest.claim === undefined) return true;
  const claim = await readJson<{ version?: unknown }>(store, manifest.claim);
  return claim?.version === manifest.version;
}

/**
 * Complete versions, oldest first (version names sort by time): a manifest, and the claim
 * that names it as its parent's child. A manifest no claim names is read to tell a version
 * written before claims existed (complete) from a run that lost its claim or crashed before
 * writing it (not a version).
 */
export async function listDatasetVersions(store: ObjectStore): Promise<string[]> {
  const objects = await store.list(datasetKeys.versionsPrefix);
  const candidates = objects.map((o) => datasetKeys.manifestVersion(o.key)).filter((v): v is string => v !== undefined);
  const claimed = await claimedChildren(store);
  const versions: string[] = [];
  for (const version of candidates) {
    if (claimed.has(version)) versions.push(version);
    else {
      const manifest = await readJson<Pick<DatasetManifest, 'version' | 'claim'>>(store, datasetKeys.manifest(version));
      if (manifest && manifest.claim === undefined) versions.push(version);
    }
  }
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
  if (!(await isCommitted(store, manifest))) {
    throw new Error(
      `${store.uri(key)} is not a committed dataset version: its claim ${store.uri(manifest.claim!)} does not name it ` +
        '(another run committed on the same parent first, or this run stopped before committing)',
    );
  }
  return manifest;
}

/** Training sampling weights of a version (content hash → draws per epoch; absent: 1). */
export async function readSamplingWeights(store: ObjectStore, manifest: DatasetManifest): Promise<Record<string, number>> {
  if (!manifest.sampling) return {};
  const sampling = await readJson<SamplingWeights>(store, manifest.sampling);
  if (!sampling)
    throw new Error(`dataset version ${manifest.version} names sampling weights ${store.uri(manifest.sampling)} that do not exist`);
  return sampling.weights;
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
