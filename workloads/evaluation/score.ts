import type { WorkloadConfig } from '../core/config/schema';
import { loadHead, readModelMeta } from '../core/model/model-version';
import type { ObjectStore } from '../core/storage/object-store';
import type { LabelledImage } from '../training/data';
import { computeFeatureSets } from '../training/features/compute';
import { predictProbs } from '../training/loop';
import { computeMetrics, EvalMetrics, rankPredictions } from './metrics';

/** A model's answers on a set of photos: its metrics and its top-1 per photo (dataset label indices, −1 = not a dataset label). */
export interface ScoredModel {
  metrics: EvalMetrics;
  top1: Int32Array;
  truth: Int32Array;
  /** The labels the model has columns for. */
  modelLabels: string[];
}

/**
 * Scores one model version on a set of labelled images: trunk activations (cached by
 * content, shared with training when the trunk is the same) → the version's head →
 * metrics in the dataset's label space.
 */
export async function scoreModel(
  models: ObjectStore,
  version: string,
  images: LabelledImage[],
  datasetLabels: string[],
  config: WorkloadConfig,
): Promise<ScoredModel> {
  const meta = await readModelMeta(models, version);
  const { sets } = await computeFeatureSets([{ images, variants: 1 }], {
    spec: meta.backbone,
    store: models,
    augment: config.training.augment,
    seed: config.training.seed,
    workers: config.training.workers,
  });
  const head = await loadHead(models, version);
  try {
    const probs = predictProbs(head, sets[0].variants[0], sets[0].n, meta.backbone.outputShape);
    const ranked = rankPredictions(probs, meta.labels, datasetLabels);
    const top1 = Int32Array.from({ length: sets[0].n }, (_, i) => ranked.ranked[i * ranked.k]);
    return { metrics: computeMetrics(ranked, sets[0].labels, datasetLabels), top1, truth: sets[0].labels, modelLabels: meta.labels };
  } finally {
    head.dispose();
  }
}
