import type { DatasetManifest, SourceEntry } from '../core/dataset/manifest';
import { listDatasetVersions, readManifest } from '../core/dataset/read-dataset';
import type { ObjectStore } from '../core/storage/object-store';

/** An example already stored in a version. */
export interface KnownExample extends SourceEntry {
  /** The version whose shards hold its bytes. */
  version: string;
}

/** What earlier versions hold: the parent (newest complete version) and every example by content hash. */
export interface Lineage {
  parent: DatasetManifest | null;
  versions: string[];
  known: Map<string, KnownExample>;
  /** Union of the label maps, in the parent's order first (label maps grow, never reorder). */
  labels: string[];
}

/**
 * A snapshot parent lists everything the loop knows, so it is the only manifest read.
 * Before the first snapshot every version held a slice (new data plus some replay): then
 * every manifest is read, and the newest copy of each example counts.
 */
export async function readLineage(datasets: ObjectStore): Promise<Lineage> {
  const versions = await listDatasetVersions(datasets);
  const known = new Map<string, KnownExample>();
  if (versions.length === 0) return { parent: null, versions, known, labels: [] };
  const parent = await readManifest(datasets, versions[versions.length - 1]);
  if (parent.snapshot) {
    for (const s of parent.sources) known.set(s.sha256, { ...s, version: s.version ?? parent.version });
  } else {
    for (const version of versions) {
      const manifest = version === parent.version ? parent : await readManifest(datasets, version);
      for (const s of manifest.sources) known.set(s.sha256, { ...s, version });
    }
  }
  const labels = [...parent.labels];
  for (const k of known.values()) if (!labels.includes(k.label)) labels.push(k.label);
  return { parent, versions, known, labels };
}

/**
 * The label map of a new version: the parent's labels in their order, then new labels
 * sorted, so every earlier label index stays valid (a new breed never renumbers the old ones).
 */
export function extendLabelMap(existing: readonly string[], newLabels: Iterable<string>): string[] {
  const added = [...new Set(newLabels)].filter((l) => !existing.includes(l)).sort();
  return [...existing, ...added];
}
