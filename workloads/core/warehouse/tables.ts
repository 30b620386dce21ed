import { SPLITS } from '../layout';
import { added, AnyTableDef, defineTable, field, nullable, RowOf } from './schema-dsl';

/**
 * The warehouse tables, defined once. BigQuery (Pulumi warehouse component), DuckDB
 * (local runs), insert validation and the row types all derive from these.
 */

export const PREDICTION_SOURCES = ['dogapi', 'upload'] as const;
export const MODEL_ROLES = ['champion', 'challenger', 'none'] as const;
export const MODEL_EVENTS = ['registration', 'promotion', 'rejection', 'rollback'] as const;
/** The answer POST /classify gives (workloads/inference/predictor.ts `openSetVerdict`). */
export const OPEN_SET_VERDICTS = ['breed', 'unknown_breed', 'not_a_dog'] as const;

export const predictionEvents = defineTable({
  name: 'prediction_events',
  description: 'One row per model prediction (or per ingestion without a model).',
  partitionField: 'ts',
  clustering: ['model_version', 'role'],
  fields: {
    ts: field.timestamp('When the prediction was made'),
    request_id: field.string('HTTP request id'),
    prediction_id: field.string('Id given to the caller; feedback refers to it'),
    source: field.enumOf(PREDICTION_SOURCES)('Where the image came from'),
    image_uri: field.string('Stored image (gs:// or file://)'),
    true_label: nullable(field.string('Known breed (dog API); null for uploads')),
    predicted_label: nullable(field.string('Top-1 breed; null when no model was loaded')),
    correct: nullable(field.bool('predicted_label = true_label, when both are known')),
    confidence: nullable(field.float('Top-1 probability')),
    latency_ms: field.float('Model latency (decode + predict) in milliseconds'),
    model_version: nullable(field.string('Model version that predicted')),
    role: field.enumOf(MODEL_ROLES)('champion answers; challenger predicts in shadow'),
    top_k: field.json('Top-k labels and probabilities, JSON'),
    open_set: added(field.enumOf(OPEN_SET_VERDICTS)('The answer given: a breed, a dog of none of our breeds, or not a dog')),
    dog_probability: added(field.float("The backbone's ImageNet head: probability mass on its dog classes")),
  },
});

export const feedback = defineTable({
  name: 'feedback',
  description: 'A person confirmed or corrected a prediction.',
  partitionField: 'ts',
  fields: {
    ts: field.timestamp('When the feedback arrived'),
    feedback_id: field.string('Feedback id'),
    prediction_id: field.string('The prediction this is about'),
    correct: field.bool('Whether the prediction was right'),
    label: nullable(field.string('The true breed (the correction, or the prediction if correct)')),
    predicted_label: nullable(field.string('What the model said')),
    model_version: nullable(field.string('Model that made the prediction')),
  },
});

export const datasetVersions = defineTable({
  name: 'dataset_versions',
  description: 'One row per immutable TFRecord dataset version.',
  partitionField: 'ts',
  fields: {
    ts: field.timestamp('When the version was completed'),
    dataset_version: field.string('Version name'),
    parent_version: nullable(field.string('Previous version it extends')),
    uri: field.string('Version folder'),
    num_examples: field.int('Examples in all splits'),
    num_train: field.int('Training examples'),
    num_validation: field.int('Validation examples'),
    num_test: field.int('Test examples'),
    num_classes: field.int('Classes in the label map'),
    new_examples: field.int('Labelled examples not in the parent'),
    replay_examples: field.int(
      'Examples copied from earlier versions (hard-example replay before snapshots; the first snapshot copies those versions in)',
    ),
    inherited_examples: added(field.int("Examples held by reference to the parent's shards (a version is a snapshot of all trusted data)")),
    pending_labels: added(field.int("Users' photos left out because no trust policy has confirmed their labels yet")),
    skipped: field.int('Raw objects skipped as invalid'),
    run_id: nullable(field.string('Pipeline run that made it')),
  },
});

export const classDistribution = defineTable({
  name: 'class_distribution',
  description: 'Examples per class and split in each dataset version.',
  partitionField: 'ts',
  fields: {
    ts: field.timestamp('Version timestamp'),
    dataset_version: field.string('Version name'),
    label: field.string('Breed'),
    split: field.enumOf(SPLITS)('Split'),
    count: field.int('Examples'),
  },
});

export const trainingRuns = defineTable({
  name: 'training_runs',
  description: 'One row per training run, with all hyperparameters.',
  partitionField: 'ts',
  fields: {
    ts: field.timestamp('When the run finished'),
    run_id: field.string('Training run id'),
    model_version: field.string('Model version produced'),
    dataset_version: field.string('Dataset version trained on'),
    parent_model: nullable(field.string('Champion it warm-started from')),
    backbone: field.string('Backbone name'),
    hyperparameters: field.json('All hyperparameters, JSON'),
    status: field.enumOf(['succeeded', 'failed'])('Outcome'),
    epochs: field.int('Epochs run'),
    best_epoch: nullable(field.int('Epoch with the lowest validation loss')),
    val_accuracy: nullable(field.float('Validation accuracy at the best epoch')),
    val_loss: nullable(field.float('Validation loss at the best epoch')),
    duration_s: field.float('Wall time in seconds'),
  },
});

export const trainingEpochs = defineTable({
  name: 'training_epochs',
  description: 'Per-epoch training metrics.',
  partitionField: 'ts',
  fields: {
    ts: field.timestamp('When the epoch ended'),
    run_id: field.string('Training run id'),
    model_version: field.string('Model version being trained'),
    epoch: field.int('Epoch number, from 1'),
    phase: field.enumOf(['head', 'finetune'])('Frozen-backbone head training or fine-tuning'),
    loss: field.float('Training loss'),
    accuracy: field.float('Training accuracy'),
    val_loss: field.float('Validation loss'),
    val_accuracy: field.float('Validation accuracy'),
    learning_rate: field.float('Learning rate at the end of the epoch'),
    duration_s: field.float('Epoch wall time'),
  },
});

export const modelEvents = defineTable({
  name: 'model_events',
  description: 'Every registry decision: registration, promotion, rejection, rollback.',
  partitionField: 'ts',
  clustering: ['event'],
  fields: {
    ts: field.timestamp('When it happened'),
    event_id: field.string('Event id'),
    event: field.enumOf(MODEL_EVENTS)('What happened'),
    model_version: field.string('The model the event is about'),
    previous_version: nullable(field.string('Production model before the event')),
    dataset_version: nullable(field.string('Dataset whose test split was used')),
    reason: field.string('Why, in words'),
    challenger_metrics: nullable(field.json('Candidate metrics, JSON')),
    champion_metrics: nullable(field.json('Incumbent metrics, JSON')),
    run_id: nullable(field.string('Pipeline run')),
    eval_n: added(field.int('Evaluation photos both models were scored on (promotion, rejection)')),
    eval_digest: added(field.string('SHA-256 of the evaluation set: decisions with the same digest saw the same photos')),
    effect: added(field.float('Top-1 difference, challenger minus champion, on the evaluation set')),
    effect_low: added(field.float("Lower bound of the effect's interval (level 1 - 2 alpha)")),
    effect_high: added(field.float("Upper bound of the effect's interval")),
    p_value: added(field.float('One-sided exact McNemar p-value that the challenger is better')),
    detectable_effect: added(field.float('Smallest improvement this evaluation detects with 95% power (smaller ones may be missed)')),
    class_changes: added(field.json('Per breed: n, challenger and champion recall, change, floor, upper bound, new, JSON')),
  },
});

export const triggerDecisions = defineTable({
  name: 'trigger_decisions',
  description: 'Every retraining check with its inputs and outcome.',
  partitionField: 'ts',
  fields: {
    ts: field.timestamp('When the check ran'),
    decision_id: field.string('Decision id'),
    fired: field.bool('Whether retraining was started'),
    reason: field.string('Which condition fired, or why none did'),
    new_labelled: field.int('Labelled examples since the last dataset version'),
    recent_predictions: field.int('Champion predictions in the drift window'),
    recent_accuracy: nullable(field.float('Champion accuracy in the drift window')),
    baseline_accuracy: nullable(field.float("Champion's accuracy at promotion")),
    hours_since_last: nullable(field.float('Hours since the last dataset version')),
    inputs: field.json('All inputs and thresholds, JSON'),
    pipeline_run_id: nullable(field.string('Run started, if fired')),
  },
});

export const pipelineRuns = defineTable({
  name: 'pipeline_runs',
  description: 'Pipeline runs and their steps (local runner or Vertex AI Pipelines).',
  partitionField: 'ts',
  fields: {
    ts: field.timestamp('When the step or run ended'),
    run_id: field.string('Pipeline run id'),
    step: field.string("Step name, or '(run)' for the whole run"),
    status: field.enumOf(['succeeded', 'failed', 'skipped'])('Outcome'),
    duration_s: field.float('Wall time in seconds'),
    error: nullable(field.string('Failure message')),
  },
});

export const TABLES = {
  prediction_events: predictionEvents,
  feedback,
  dataset_versions: datasetVersions,
  class_distribution: classDistribution,
  training_runs: trainingRuns,
  training_epochs: trainingEpochs,
  model_events: modelEvents,
  trigger_decisions: triggerDecisions,
  pipeline_runs: pipelineRuns,
} as const;

export type Tables = typeof TABLES;
export type TableName = keyof Tables;
export type Row<T extends TableName> = RowOf<Tables[T]>;
export const TABLE_NAMES = Object.keys(TABLES) as TableName[];

/** The definition of a table, for generic code (DDL, BigQuery schema, validation). */
export function tableDef(name: TableName): AnyTableDef {
  return TABLES[name] as unknown as AnyTableDef;
}
