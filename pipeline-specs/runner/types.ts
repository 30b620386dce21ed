import type { ParameterValue } from '../ir';

export type StepStatus = 'succeeded' | 'failed' | 'skipped' | 'cancelled';
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** One container task of a run. */
export interface StepResult {
  /** Task name (unique in the pipeline). */
  task: string;
  /** The DAG it ran in: `root` or `comp-condition-N`. */
  dag: string;
  status: StepStatus;
  startedAt: string;
  durationS: number;
  /** Output parameters, typed per the component's outputDefinitions. */
  outputs: Record<string, ParameterValue>;
  /** Why it was skipped (the false condition or the skipped upstream task). */
  skipReason?: string;
  /** Failure message, including the tail of the step's log. */
  error?: string;
  /** Last lines the step printed. */
  logTail?: string[];
}

/** The run record (also stored as JSON at `pipelineKeys.runRecord(runId)`). */
export interface RunResult {
  runId: string;
  pipeline: string;
  status: RunStatus;
  startedAt: string;
  finishedAt?: string;
  durationS: number;
  parameters: Record<string, ParameterValue>;
  steps: StepResult[];
  /** First failure (with the failing step's log tail), or the cancellation. */
  error?: string;
  /** Recording problems (warehouse/object store) that did not stop the run. */
  warnings: string[];
}

export type RunEvent =
  | { type: 'run-start'; runId: string; pipeline: string; parameters: Record<string, ParameterValue> }
  | { type: 'step-start'; runId: string; task: string; command: string[] }
  | { type: 'log'; runId: string; task: string; stream: 'stdout' | 'stderr'; line: string }
  | { type: 'step-end'; runId: string; step: StepResult }
  | { type: 'warning'; runId: string; message: string }
  | { type: 'run-end'; runId: string; result: RunResult };

export class PipelineRunError extends Error {
  constructor(readonly result: RunResult) {
    super(`pipeline ${result.pipeline} run ${result.runId} ${result.status}: ${result.error ?? '(no error recorded)'}`);
    this.name = 'PipelineRunError';
  }
}

/** Throws {@link PipelineRunError} unless the run succeeded. */
export function assertSucceeded(result: RunResult): RunResult {
  if (result.status !== 'succeeded') throw new PipelineRunError(result);
  return result;
}
