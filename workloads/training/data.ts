import { readManifest, readSamplingWeights, readSplit } from '../core/dataset/read-dataset';
import type { DatasetManifest } from '../core/dataset/manifest';
import { SPLITS, Split } from '../core/layout';
import type { ObjectStore } from '../core/storage/object-store';

/** One example as training and evaluation hold it: content id, the 224×224 JPEG, and its label index. */
export interface LabelledImage {
  sourceId: string;
  jpeg: Buffer;
  label: number;
}

export interface LoadedDataset {
  version: string;
  labels: string[];
  manifest: DatasetManifest;
  splits: Record<Split, LabelledImage[]>;
}

/** Reads a dataset version's splits into memory (≈15 KB per example; ~40 MB for the shared 2,400 photos). */
export async function loadDataset(store: ObjectStore, version: string, only: readonly Split[] = SPLITS): Promise<LoadedDataset> {
  const manifest = await readManifest(store, version);
  const splits = { train: [], validation: [], test: [] } as Record<Split, LabelledImage[]>;
  for (const split of only) {
    for await (const ex of readSplit(store, manifest, split)) {
      if (ex.label < 0 || ex.label >= manifest.labels.length || manifest.labels[ex.label] !== ex.text) {
        throw new Error(
          `dataset ${version} ${split}: example ${ex.sourceId} has label ${ex.label} (${JSON.stringify(ex.text)}) ` +
            `which does not match the label map [${manifest.labels.join(', ')}]`,
        );
      }
      splits[split].push({ sourceId: ex.sourceId, jpeg: ex.jpeg, label: ex.label });
    }
  }
  // The evaluation set is never trained on: a test example in another split is a broken version.
  const test = new Set(splits.test.map((e) => e.sourceId));
  for (const split of ['train', 'validation'] as const) {
    const leaked = splits[split].find((e) => test.has(e.sourceId));
    if (leaked) throw new Error(`dataset ${version}: example ${leaked.sourceId} is in both the test (evaluation) and the ${split} split`);
  }
  return { version, labels: manifest.labels, manifest, splits };
}

/**
 * The training examples as training draws them: each as often as its sampling weight says
 * (hard examples more often; see preprocessing/curation.ts). Class balance is the loss's
 * class weights, computed over this list.
 */
export async function weightedTrainingImages(store: ObjectStore, data: LoadedDataset): Promise<LabelledImage[]> {
  const weights = await readSamplingWeights(store, data.manifest);
  return data.splits.train.flatMap((img) => Array.from({ length: weights[img.sourceId] ?? 1 }, () => img));
}
