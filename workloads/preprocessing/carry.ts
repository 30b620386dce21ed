import { decodeDogExample, encodeDogExample } from '../core/dataset/dog-example';
import { readManifest, readShardRecords } from '../core/dataset/read-dataset';
import type { ObjectStore } from '../core/storage/object-store';
import type { KnownExample } from './lineage';
import type { BuiltExample } from './shards';
import type { SkipLog } from './skips';

/**
 * Copies examples out of versions made before snapshots (each held a slice of the data) into
 * the first snapshot: read back from the versions that hold them, re-labelled with the new
 * label map's indices (the map only grows, but re-encoding by label text makes that an
 * invariant checked here rather than assumed). Snapshots after it reference shards instead.
 */
export async function fetchStored(
  datasets: ObjectStore,
  selected: readonly KnownExample[],
  labelIndex: ReadonlyMap<string, number>,
  skips: SkipLog,
): Promise<BuiltExample[]> {
  const wanted = new Map<string, Map<string, KnownExample>>(); // version → sha → candidate
  for (const c of selected) {
    const m = wanted.get(c.version) ?? new Map<string, KnownExample>();
    m.set(c.sha256, c);
    wanted.set(c.version, m);
  }
  const out: BuiltExample[] = [];
  for (const [version, bySha] of wanted) {
    const manifest = await readManifest(datasets, version);
    const splits = new Set([...bySha.values()].map((c) => c.split));
    for (const split of splits) {
      for (const key of manifest.splits[split].shards) {
        let records;
        try {
          records = await readShardRecords(datasets, key, manifest.compression);
        } catch (err) {
          // A damaged earlier version must not block a new one: its examples are skipped, loudly.
          for (const c of [...bySha.values()].filter((c) => c.split === split)) {
            skips.add(datasets.uri(key), 'read_error', `copying ${c.sha256} (${c.uri}) failed: ${(err as Error).message}`);
            bySha.delete(c.sha256);
          }
          break;
        }
        for (const r of records) {
          const ex = decodeDogExample(r.data, `${datasets.uri(key)} record ${r.index}`);
          const c = bySha.get(ex.sourceId);
          if (!c) continue;
          bySha.delete(ex.sourceId);
          const index = labelIndex.get(ex.text);
          if (index === undefined)
            throw new Error(`replayed example ${ex.sourceId} has label ${ex.text}, which is not in the new label map`);
          out.push({
            sha256: c.sha256,
            split: c.split,
            label: ex.text,
            payload: encodeDogExample({ ...ex, label: index }),
            uri: c.uri,
            origin: 'replay',
            phash: c.phash,
            source: c.source,
            trustedBy: c.trustedBy,
          });
        }
      }
    }
    for (const c of bySha.values()) {
      skips.add(
        c.uri,
        'read_error',
        `copying: example ${c.sha256} is listed in version ${version}'s manifest but not found in its ${c.split} shards`,
      );
    }
  }
  return out;
}
