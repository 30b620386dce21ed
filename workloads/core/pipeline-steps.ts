/**
 * The continual-learning pipeline's steps, defined once: the pipeline spec compiler,
 * the local runner, the container images and the Pulumi components all derive from this.
 *
 * Every step is a command-line entry point. Run-specific values arrive as flags
 * (`--run-id`, `--dataset-version`, ...); each output parameter is written as plain text
 * to the file named by `--out-<name>` (the KFP IR `output_file` placeholder). Everything
 * else (buckets, warehouse, thresholds) comes from the CV_* environment (config/load.ts).
 */
import { ENTRY_POINTS, type EntryPoint, type EntryPointName } from './entry-points';

export interface StepDefinition {
  /** Task and component name in the pipeline spec. */
  name: string;
  /** How its container starts (workloads/core/entry-points.ts): command, then the mode arguments. */
  entryPoint: EntryPointName;
  /** Input parameters, passed as `--<name-with-dashes> <value>`. */
  inputs: readonly string[];
  /** Output parameters, written to `--out-<name-with-dashes> <file>`. */
  outputs: readonly string[];
}

export const PIPELINE_STEPS = {
  checkTrigger: {
    name: 'check-trigger',
    entryPoint: 'triggerCheck',
    inputs: ['run_id', 'force'],
    outputs: ['should_run', 'reason'],
  },
  preprocess: {
    name: 'preprocess',
    entryPoint: 'preprocess',
    inputs: ['run_id'],
    /** status: `written`, or `waiting_for_data` (nothing new and trusted: no version, and the run trains nothing). */
    outputs: ['dataset_version', 'status'],
  },
  train: {
    name: 'train',
    entryPoint: 'train',
    inputs: ['run_id', 'dataset_version'],
    outputs: ['model_version'],
  },
  evaluate: {
    name: 'evaluate',
    entryPoint: 'evaluate',
    inputs: ['run_id', 'dataset_version', 'model_version'],
    outputs: ['decision', 'reason'],
  },
  promote: {
    name: 'promote',
    entryPoint: 'promote',
    inputs: ['run_id', 'dataset_version', 'model_version'],
    outputs: ['production_version'],
  },
} as const satisfies Record<string, StepDefinition>;

export type StepKey = keyof typeof PIPELINE_STEPS;

/** The entry point a step's container runs. */
export const entryPointOf = (step: StepDefinition): EntryPoint => ENTRY_POINTS[step.entryPoint];

/** `dataset_version` → `--dataset-version`. */
export const flagOf = (param: string): string => `--${param.replace(/_/g, '-')}`;
/** `dataset_version` → `--out-dataset-version`. */
export const outFlagOf = (param: string): string => `--out-${param.replace(/_/g, '-')}`;
