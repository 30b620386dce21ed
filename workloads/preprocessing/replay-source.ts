import { decodeDogExample, encodeDogExample } from '../core/dataset/dog-example';
import { readManifest, readShardRecords } from '../core/dataset/read-dataset';
import type { ObjectStore } from '../core/storage/object-store';
import type { Warehouse } from '../core/warehouse/warehouse';
import type { ReplayCandidate } from './replay';
import type { BuiltExample } from './shards';
import type { SkipLog } from './skips';

/** `…/images/<id>.<ext>` → `images/<id>.<ext>`: joins survive different data roots / bucket URIs. */
export const imageKeyOfUri = (uri: string): string | undefined => /(?:^|\/)(images\/[^/]+)$/.exec(uri)?.[1];

/**
 * Misclassifications per raw image from the prediction log (`prediction_events`, joined by
 * image URI). Any model's miss counts: a challenger's shadow mistake marks a hard example too.
 */
export async function missesByImage(warehouse: Warehouse): Promise<Map<string, number>> {
  const rows = await warehouse.query(
    'SELECT image_uri, COUNT(*) AS misses FROM {{prediction_events}} WHERE correct = FALSE GROUP BY image_uri',
  );
  const misses = new Map<string, number>();
  for (const r of rows) {
    const key = imageKeyOfUri(String(r.image_uri));
    if (key) misses.set(key, (misses.get(key) ?? 0) + Number(r.misses));
  }
  return misses;
}

/**
 * Reads the selected examples back from the versions that hold them, re-labelled with the
 * new label map's indices (the map only grows, but re-encoding by label text makes that
 * an invariant checked here rather than assumed).
 */
export async function fetchReplay(
  datasets: ObjectStore,
  selected: readonly ReplayCandidate[],
  labelIndex: ReadonlyMap<string, number>,
  skips: SkipLog,
): Promise<BuiltExample[]> {
  const wanted = new Map<string, Map<string, ReplayCandidate>>(); // version → sha → candidate
  for (const c of selected) {
    const m = wanted.get(c.version) ?? new Map<string, ReplayCandidate>();
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
            skips.add(datasets.uri(key), 'read_error', `replay of ${c.sha256} (${c.uri}) failed: ${(err as Error).message}`);
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
          });
        }
      }
    }
    for (const c of bySha.values()) {
      skips.add(
        c.uri,
        'read_error',
        `replay: example ${c.sha256} is listed in version ${version}'s manifest but not found in its ${c.split} shards`,
      );
    }
  }
  return out;
}
