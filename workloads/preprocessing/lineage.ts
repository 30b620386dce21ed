import type { DatasetManifest, SourceEntry } from '../core/dataset/manifest';
import { listDatasetVersions, readManifest } from '../core/dataset/read-dataset';
import type { ObjectStore } from '../core/storage/object-store';

/** An example already stored in an earlier version. */
export interface KnownExample extends SourceEntry {
  /** Newest version that holds it (where replay reads it from). */
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

export async function readLineage(datasets: ObjectStore): Promise<Lineage> {
  const versions = await listDatasetVersions(datasets);
  const known = new Map<string, KnownExample>();
  const labels: string[] = [];
  let parent: DatasetManifest | null = null;
  // Oldest first, so newer versions overwrite: replay reads from the newest copy.
  for (const version of versions) {
    const manifest = await readManifest(datasets, version);
    for (const s of manifest.sources) known.set(s.sha256, { ...s, version });
    parent = manifest;
  }
  if (parent) labels.push(...parent.labels);
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
