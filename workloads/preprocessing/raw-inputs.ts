import { parseRawLabel, type RawLabel, RawLabelError } from '../core/dataset/raw-label';
import { rawKeys } from '../core/layout';
import type { ObjectStore } from '../core/storage/object-store';
import { mapConcurrent } from './concurrency';
import type { KnownExample } from './lineage';
import type { SkipLog } from './skips';

/** A valid label object and where its image is. */
export interface LabelledImage {
  label: RawLabel;
  labelUri: string;
  imageUri: string;
}

/** Reads and validates every label object; bad ones are skipped with their reason. */
export async function readLabels(
  raw: ObjectStore,
  skips: SkipLog,
  concurrency = 32,
): Promise<{ labels: LabelledImage[]; objects: number }> {
  const objects = (await raw.list(rawKeys.labelsPrefix)).filter((o) => o.key.endsWith('.json'));
  const parsed = await mapConcurrent(objects, concurrency, async (o): Promise<LabelledImage | undefined> => {
    const uri = raw.uri(o.key);
    let data: Buffer;
    try {
      data = await raw.read(o.key);
    } catch (err) {
      skips.add(uri, 'read_error', `the label object cannot be read: ${(err as Error).message}`);
      return undefined;
    }
    try {
      const label = parseRawLabel(data, uri);
      const id = rawKeys.labelId(o.key);
      if (id !== label.id)
        throw new RawLabelError('invalid_label', `${uri} has id ${JSON.stringify(label.id)} but its key says ${JSON.stringify(id)}`);
      return { label, labelUri: uri, imageUri: raw.uri(label.imageKey) };
    } catch (err) {
      if (err instanceof RawLabelError) skips.add(uri, err.reason, err.message);
      else throw err;
      return undefined;
    }
  });
  return { labels: parsed.filter((p): p is LabelledImage => p !== undefined), objects: objects.length };
}

export interface Candidates {
  /** New labelled images, one per content hash, in a stable order. */
  fresh: LabelledImage[];
  /** Label objects whose image content is already stored (in an earlier version or earlier in this run). */
  duplicates: LabelledImage[];
}

/**
 * Picks the labelled images a new version must add: those whose content hash no earlier
 * version holds. The same bytes under a second id (or a second label) are a duplicate and
 * stored once: the earliest label wins. Images already in a version under the same URI are
 * simply old data, not duplicates. (Labels carry `labelledAt` as ISO UTC, so string order is time order.)
 */
export function selectFresh(
  labels: readonly LabelledImage[],
  known: ReadonlyMap<string, KnownExample>,
  parentCreatedAt?: string,
): Candidates {
  const ordered = [...labels].sort((a, b) => a.label.labelledAt.localeCompare(b.label.labelledAt) || a.label.id.localeCompare(b.label.id));
  const fresh: LabelledImage[] = [];
  const duplicates: LabelledImage[] = [];
  const seen = new Set<string>();
  for (const l of ordered) {
    const prior = known.get(l.label.sha256);
    if (prior) {
      // Counted once: in the first run after the duplicate label arrived.
      if (prior.uri !== l.imageUri && (parentCreatedAt === undefined || l.label.labelledAt > parentCreatedAt)) duplicates.push(l);
      continue;
    }
    if (seen.has(l.label.sha256)) {
      duplicates.push(l);
      continue;
    }
    seen.add(l.label.sha256);
    fresh.push(l);
  }
  return { fresh, duplicates };
}
