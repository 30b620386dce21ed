import type { WorkloadConfig } from '../core/config/schema';
import { loadHead, readModelMeta } from '../core/model/model-version';
import type { ObjectStore } from '../core/storage/object-store';
import type { LabelledImage } from '../training/data';
import { computeFeatureSets } from '../training/features/compute';
import { predictProbs } from '../training/loop';
import { computeMetrics, EvalMetrics, rankPredictions } from './metrics';

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
): Promise<EvalMetrics> {
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
    return computeMetrics(rankPredictions(probs, meta.labels, datasetLabels), sets[0].labels, datasetLabels);
  } finally {
    head.dispose();
  }
}
