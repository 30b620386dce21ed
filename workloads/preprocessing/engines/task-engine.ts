import { ENTRY_POINTS } from '../../core/entry-points';

/**
 * A managed (or local) engine that runs the transform stage of a planned dataset version as
 * N tasks: task i of n runs `cli.ts --stage transform --version V` with the task index and
 * count in CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT (staged.ts: items i, i+n, …).
 *
 * The engine only runs and watches tasks; planning and committing stay with the caller
 * (run-with-engine.ts), so a failed task can never leave a manifest behind.
 */

export type EngineName = 'local-tasks' | 'cloud-run-job';

export interface TransformTasksRequest {
  /** The version the plan stage wrote (`staging/<version>/plan.json`). */
  version: string;
  taskCount: number;
  /** Called as tasks finish successfully (a progress bar for the parent). */
  onTaskDone?: (done: number, total: number) => void;
}

export interface TaskRunReport {
  engine: EngineName;
  taskCount: number;
  /** Wall time from the first task start to the last task end, as the caller saw it. */
  seconds: number;
  /** Cloud Run execution name (`projects/…/jobs/…/executions/…`), for cloud-run-job. */
  execution?: string;
  /** Where the tasks' logs are (Cloud Logging URL), when the engine knows it. */
  logUri?: string;
}

export interface TaskEngine {
  readonly name: EngineName;
  /** Resolves once every task succeeded; rejects with a {@link TaskEngineError} otherwise. */
  runTransform(request: TransformTasksRequest): Promise<TaskRunReport>;
}

export interface TaskFailure {
  index: number;
  /** Exit code / signal / the engine's own words. */
  reason: string;
  /** Last lines the task wrote (local tasks), or its log link (Cloud Run). */
  logTail?: string;
}

/** Some tasks failed, or the engine could not run them: names the tasks and where their logs are. */
export class TaskEngineError extends Error {
  constructor(
    readonly engine: EngineName,
    message: string,
    readonly failedTasks: TaskFailure[] = [],
    readonly execution?: string,
    readonly logUri?: string,
  ) {
    super(message);
    this.name = 'TaskEngineError';
  }
}

/** `tasks 1, 3 of 4 failed` (used by both engines so messages read the same). */
export function describeFailures(failures: TaskFailure[], taskCount: number): string {
  const lines = failures
    .sort((a, b) => a.index - b.index)
    .map((f) => `  task ${f.index}: ${f.reason}${f.logTail ? `\n${indent(f.logTail, '    | ')}` : ''}`);
  const which = failures.map((f) => f.index).join(', ');
  return `transform task${failures.length === 1 ? '' : 's'} ${which} of ${taskCount} failed:\n${lines.join('\n')}`;
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((l) => prefix + l)
    .join('\n');
}

/** The arguments every task runs with (after the job's command; entry point `preprocessTransformTask`). */
export function transformArgs(version: string): string[] {
  return [...ENTRY_POINTS.preprocessTransformTask.args, '--version', version];
}
