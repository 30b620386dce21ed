import { createHash } from 'node:crypto';
import type { WorkloadConfig } from '../core/config/schema';
import { latestDatasetVersion } from '../core/dataset/read-dataset';
import { datasetKeys, MODEL_FILES, modelKeys, newVersionName } from '../core/layout';
import { createLogger, type Logger } from '../core/log';
import { configuredSpec } from '../core/model/backbones';
import { loadHead, markComplete, ModelVersionMeta, readModelMeta, saveModelVersionCore } from '../core/model/model-version';
import { readPointer } from '../core/model/registry';
import { DataLake, openDataLake } from '../core/storage/data-lake';
import { writeJson } from '../core/storage/object-store';
import { selectBackend, tf } from '../core/tf/backend';
import type { Warehouse } from '../core/warehouse/warehouse';
import { computeMetrics, EvalMetrics, rankPredictions, summarize } from '../evaluation/metrics';
import { deleteCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint';
import { loadDataset, weightedTrainingImages } from './data';
import { computeFeatureSets, FeatureStats } from './features/compute';
import { buildHead, HeadParts, trunkSpecFor, warmStart, WarmStartReport } from './head';
import { EpochRecord, evaluateLogits, LoopOptions, loopOptionsFor, predictProbs, runTrainingLoop } from './loop';
import { renderModelCard } from './model-card';
import { confusionMatrixPng } from './plots/confusion-matrix';
import { trainingCurvesPng } from './plots/training-curves';
import { installDepthwiseGradient } from './wasm-depthwise-gradient';
import { installFastTransposedMatMul } from './wasm-matmul';

/**
 * One training run: dataset version → model version (head + labels + metrics + model card
 * + charts, COMPLETE.json last). Callable in-process (`npm start`'s runner, tests) and
 * from the CLI (pipeline step `train`).
 */
export type TrainProgress =
  | { stage: 'features'; done: number; total: number }
  | { stage: 'batch'; epoch: number; phase: string; batch: number; batches: number }
  | { stage: 'epoch'; record: EpochRecord; totalEpochs: number };

export interface TrainModelOptions {
  config: WorkloadConfig;
  runId: string;
  /** Default: the newest complete dataset version. */
  datasetVersion?: string;
  /** Name of the model version to write. Default: a new time-sortable name. */
  modelVersion?: string;
  lake?: DataLake;
  /** Where per-epoch and run rows go; null: nowhere (tests). */
  warehouse: Warehouse | null;
  /** Continue from this run's checkpoint if there is one (default true). */
  resume?: boolean;
  /** Model to warm-start from. Default: the production model, if compatible; null: none. */
  parentVersion?: string | null;
  onProgress?: (p: TrainProgress) => void;
  log?: Logger;
}

export interface TrainResult {
  modelVersion: string;
  datasetVersion: string;
  parentVersion: string | null;
  test: EvalMetrics;
  history: EpochRecord[];
  bestEpoch: number | null;
  resumedFromEpoch: number;
  warmStart: WarmStartReport | null;
  features: FeatureStats;
  durationS: number;
}

/** Hyperparameters as recorded in the run row, training-config.json and the model card. */
function hyperparameters(config: WorkloadConfig, cut: string | null): Record<string, unknown> {
  const t = config.training;
  return {
    backbone: config.model.backbone,
    backboneUrl: config.model.backboneUrl || '(default)',
    inputSize: config.model.inputSize,
    trunkCut: cut,
    epochs: t.epochs,
    fineTuneEpochs: cut ? t.fineTuneEpochs : 0,
    fineTuneLayers: t.fineTuneLayers,
    batchSize: t.batchSize,
    optimizer: 'adam',
    learningRate: t.learningRate,
    fineTuneLearningRate: t.fineTuneLearningRate,
    schedule: 'cosine decay per step (alpha 0.02)',
    patience: t.patience,
    dropout: t.dropout,
    l2: t.l2,
    labelSmoothing: t.labelSmoothing,
    classWeights: 'balanced',
    augment: t.augment,
    seed: t.seed,
  };
}

export async function trainModel(o: TrainModelOptions): Promise<TrainResult> {
  const started = Date.now();
  const modelVersion = o.modelVersion ?? newVersionName();
  try {
    return await runTraining(o, modelVersion, started);
  } catch (err) {
    // A failed run is a row too (the dashboard shows failures next to successes).
    await o.warehouse
      ?.insert('training_runs', [
        {
          ts: new Date(),
          run_id: o.runId,
          model_version: modelVersion,
          dataset_version: o.datasetVersion ?? '(latest)',
          parent_model: null,
          backbone: o.config.model.backbone,
          hyperparameters: JSON.stringify({ ...o.config.training, error: (err as Error).message }),
          status: 'failed',
          epochs: 0,
          best_epoch: null,
          val_accuracy: null,
          val_loss: null,
          duration_s: (Date.now() - started) / 1000,
        },
      ])
      .catch(() => undefined);
    throw err;
  }
}

async function runTraining(o: TrainModelOptions, modelVersion: string, started: number): Promise<TrainResult> {
  const log = o.log ?? createLogger('training');
  const config = o.config;
  const t = config.training;
  const lake = o.lake ?? openDataLake(config);
  const backend = await selectBackend((m) => log.info(m));
  installFastTransposedMatMul();
  installDepthwiseGradient();

  const datasetVersion = o.datasetVersion ?? (await latestDatasetVersion(lake.datasets));
  if (!datasetVersion)
    throw new Error(`no complete dataset version in ${lake.datasets.uri(datasetKeys.versionsPrefix)}: run preprocessing first`);
  const data = await loadDataset(lake.datasets, datasetVersion);
  const labels = data.labels;
  for (const split of ['train', 'validation'] as const) {
    if (data.splits[split].length === 0) throw new Error(`dataset ${datasetVersion} has no ${split} examples; cannot train`);
  }
  const spec = await trunkSpecFor(configuredSpec(config.model), t.fineTuneLayers, t.fineTuneEpochs > 0);
  log.info({ datasetVersion, cut: spec.cut, outputShape: spec.outputShape }, 'trunk');

  // Parent: the production model unless told otherwise; used only when its trunk matches.
  let parentVersion: string | null = null;
  let parentMeta: ModelVersionMeta | undefined;
  const wanted = o.parentVersion === undefined ? (await readPointer(lake.models, 'production')).pointer?.version : o.parentVersion;
  if (wanted) {
    parentMeta = await readModelMeta(lake.models, wanted);
    const same = parentMeta.backbone.name === spec.name && parentMeta.backbone.cut === spec.cut;
    if (same) parentVersion = wanted;
    else
      log.info({ parent: wanted, parentCut: parentMeta.backbone.cut, cut: spec.cut }, 'parent model has another trunk: not warm-starting');
  }

  const trainImages = await weightedTrainingImages(lake.datasets, data);
  const { sets, stats } = await computeFeatureSets(
    [
      { images: trainImages, variants: 1 + t.augment.variants },
      { images: data.splits.validation, variants: 1 },
      { images: data.splits.test, variants: 1 },
    ],
    {
      spec,
      store: lake.models,
      augment: t.augment,
      seed: t.seed,
      workers: t.workers,
      onProgress: (done, total) => o.onProgress?.({ stage: 'features', done, total }),
    },
  );
  const [train, val, test] = sets;
  log.info(stats, 'trunk features ready');

  const parts: HeadParts = await buildHead(spec, labels.length, t.seed);
  let warm: WarmStartReport | null = null;
  if (parentVersion && parentMeta) {
    const parentHead = await loadHead(lake.models, parentVersion);
    warm = warmStart(parts, labels, parentHead, parentMeta.labels);
    parentHead.dispose();
    log.info({ parent: parentVersion, kept: warm.keptClasses, newClasses: warm.newClasses }, 'warm start');
  }

  const hp = hyperparameters(config, spec.cut);
  const loopOptions: LoopOptions = loopOptionsFor(t, labels.length, train.labels);
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([datasetVersion, spec, parentVersion, loopOptions.headEpochs, hp]))
    .digest('hex')
    .slice(0, 16);
  const resume = o.resume !== false ? await loadCheckpoint(lake.models, o.runId, fingerprint) : undefined;
  if (resume) log.info({ runId: o.runId, epochs: resume.state.history.length }, 'resuming from checkpoint');
  const totalEpochs = t.epochs + (spec.cut ? t.fineTuneEpochs : 0);

  const result = await runTrainingLoop(
    parts,
    train,
    val,
    loopOptions,
    {
      onBatch: (phase, batch, batches) => o.onProgress?.({ stage: 'batch', epoch: 0, phase, batch, batches }),
      onEpoch: async (record) => {
        o.onProgress?.({ stage: 'epoch', record, totalEpochs });
        log.info(record, 'epoch');
        await o.warehouse?.insert('training_epochs', [
          {
            ts: new Date(),
            run_id: o.runId,
            model_version: modelVersion,
            epoch: record.epoch,
            phase: record.phase,
            loss: record.loss,
            accuracy: record.accuracy,
            val_loss: record.valLoss,
            val_accuracy: record.valAccuracy,
            learning_rate: record.learningRate,
            duration_s: record.durationS,
          },
        ]);
      },
      saveCheckpoint: (cp) => saveCheckpoint(lake.models, o.runId, fingerprint, cp),
    },
    resume,
  );
  resume?.weights.forEach((w) => w.dispose());
  resume?.best.forEach((w) => w.dispose());
  resume?.optimizer.forEach((w) => w.tensor.dispose());

  // Held-out metrics of the best weights.
  const probs = predictProbs(parts.head, test.variants[0], test.n, spec.outputShape);
  const testMetrics = computeMetrics(rankPredictions(probs, labels, labels), test.labels, labels);
  const valEval = evaluateLogits(
    val.variants[0],
    val.labels,
    spec.outputShape,
    labels.length,
    (x) => parts.logits.apply(parts.topLayers.length ? (parts.pooled.apply(x) as tf.Tensor) : x) as tf.Tensor2D,
  );
  const durationS = (Date.now() - started) / 1000;

  const meta: ModelVersionMeta = {
    version: modelVersion,
    createdAt: new Date().toISOString(),
    labels,
    backbone: spec,
    datasetVersion,
    parentVersion,
    trainingRunId: o.runId,
  };
  const store = lake.models;
  await saveModelVersionCore(store, meta, parts.head);
  await writeJson(store, modelKeys.file(modelVersion, MODEL_FILES.config), {
    runId: o.runId,
    datasetVersion,
    parentVersion,
    hyperparameters: hp,
    backbone: spec,
    backend,
    fingerprint,
  });
  const metricsDoc = {
    test: testMetrics,
    validation: valEval,
    bestEpoch: result.bestEpoch,
    history: result.history,
    counts: { train: train.n, validation: val.n, test: test.n },
  };
  await writeJson(store, modelKeys.file(modelVersion, MODEL_FILES.metrics), metricsDoc);
  await store.write(
    modelKeys.file(modelVersion, MODEL_FILES.confusion),
    await confusionMatrixPng(labels, testMetrics.confusion, `${modelVersion} on ${datasetVersion}`),
    { contentType: 'image/png' },
  );
  await store.write(
    modelKeys.file(modelVersion, MODEL_FILES.curves),
    await trainingCurvesPng(result.history, `${modelVersion}: training`),
    {
      contentType: 'image/png',
    },
  );
  await store.write(
    modelKeys.file(modelVersion, MODEL_FILES.card),
    renderModelCard({
      meta,
      test: testMetrics,
      validation: valEval,
      history: result.history,
      bestEpoch: result.bestEpoch,
      hyperparameters: hp,
      warmStart: warm && parentVersion ? { parent: parentVersion, keptClasses: warm.keptClasses, newClasses: warm.newClasses } : null,
      datasetCounts: { train: train.n, validation: val.n, test: test.n },
      backend,
      durationS,
    }),
    { contentType: 'text/markdown' },
  );
  await markComplete(store, modelVersion, { runId: o.runId, datasetVersion, test: summarize(testMetrics) });
  parts.head.dispose();

  const best = result.history.find((h) => h.epoch === result.bestEpoch);
  if (o.warehouse) {
    await o.warehouse.insert('training_runs', [
      {
        ts: new Date(),
        run_id: o.runId,
        model_version: modelVersion,
        dataset_version: datasetVersion,
        parent_model: parentVersion,
        backbone: spec.name,
        hyperparameters: JSON.stringify(hp),
        status: 'succeeded',
        epochs: result.history.length,
        best_epoch: result.bestEpoch,
        val_accuracy: best?.valAccuracy ?? null,
        val_loss: best?.valLoss ?? null,
        duration_s: durationS,
      },
    ]);
    await o.warehouse.insert('model_events', [
      {
        ts: new Date(),
        event_id: `registration-${modelVersion}`,
        event: 'registration',
        model_version: modelVersion,
        previous_version: parentVersion,
        dataset_version: datasetVersion,
        reason: `trained by run ${o.runId} on ${datasetVersion}: test top-1 ${(testMetrics.top1 * 100).toFixed(1)}% on ${testMetrics.n} examples`,
        challenger_metrics: JSON.stringify(summarize(testMetrics)),
        champion_metrics: null,
        run_id: o.runId,
      },
    ]);
  }
  await deleteCheckpoint(store, o.runId);
  log.info({ modelVersion, top1: testMetrics.top1, durationS }, 'model version complete');
  return {
    modelVersion,
    datasetVersion,
    parentVersion,
    test: testMetrics,
    history: result.history,
    bestEpoch: result.bestEpoch,
    resumedFromEpoch: result.resumedFromEpoch,
    warmStart: warm,
    features: stats,
    durationS,
  };
}
