import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mapConcurrent } from '../concurrency';
import {
  describeFailures,
  type TaskEngine,
  TaskEngineError,
  type TaskFailure,
  type TaskRunReport,
  transformArgs,
  type TransformTasksRequest,
} from './task-engine';

/**
 * Runs the transform tasks as child processes of this machine: the same CLI a Cloud Run
 * job task runs (`cli.ts --stage transform --version V`), with CLOUD_RUN_TASK_INDEX /
 * CLOUD_RUN_TASK_COUNT set exactly as Cloud Run sets them. Separate processes (rather than
 * threads) because that is what the managed engine does: each task has its own heap, its
 * own libuv pool and its own copy of sharp, and only the object store is shared, so what
 * passes here is what a job execution runs.
 */
export interface LocalTaskEngineOptions {
  /** Every task's environment; pass the parent's configuration as CV_* (configToEnv) so tasks see the same lake. */
  env: NodeJS.ProcessEnv;
  /** Tasks running at once (default: one per core). */
  parallelism?: number;
  /** Command that starts the CLI (default: this Node with the tsx loader on `cli.ts`). */
  command?: string[];
  /** Copy each task's stdout/stderr to this process's (default true; tests keep quiet). */
  forwardOutput?: boolean;
  /** Lines of a failed task's output kept for the error (default 20). */
  tailLines?: number;
}

/** `node --import <tsx> workloads/preprocessing/cli.ts` (or the compiled cli.js next to this file's parent). */
export function defaultCliCommand(): string[] {
  const dir = join(__dirname, '..');
  const ts = join(dir, 'cli.ts');
  if (existsSync(ts)) return [process.execPath, '--import', pathToFileURL(require.resolve('tsx')).href, ts];
  return [process.execPath, join(dir, 'cli.js')];
}

export class LocalTaskEngine implements TaskEngine {
  readonly name = 'local-tasks' as const;
  private readonly command: string[];
  private readonly parallelism: number;

  constructor(private readonly options: LocalTaskEngineOptions) {
    this.command = options.command ?? defaultCliCommand();
    this.parallelism = options.parallelism ?? availableParallelism();
    if (!Number.isInteger(this.parallelism) || this.parallelism < 1)
      throw new Error(`LocalTaskEngine: parallelism must be a whole number ≥ 1, got ${this.parallelism}`);
  }

  async runTransform(request: TransformTasksRequest): Promise<TaskRunReport> {
    const { version, taskCount } = request;
    if (!Number.isInteger(taskCount) || taskCount < 1) throw new Error(`task count must be a whole number ≥ 1, got ${taskCount}`);
    const started = Date.now();
    const failures: TaskFailure[] = [];
    let done = 0;
    // Every task runs even when one fails (as in a Cloud Run execution), so the error names all failures at once.
    await mapConcurrent(
      Array.from({ length: taskCount }, (_, i) => i),
      this.parallelism,
      async (index) => {
        const failure = await this.runTask(version, index, taskCount);
        if (failure) failures.push(failure);
        else {
          done++;
          request.onTaskDone?.(done, taskCount);
        }
      },
    );
    if (failures.length > 0) throw new TaskEngineError('local-tasks', describeFailures(failures, taskCount), failures);
    return { engine: 'local-tasks', taskCount, seconds: (Date.now() - started) / 1000 };
  }

  /** One task to completion; resolves with its failure (never rejects). */
  private runTask(version: string, index: number, count: number): Promise<TaskFailure | undefined> {
    const [cmd, ...pre] = this.command;
    const forward = this.options.forwardOutput ?? true;
    const keep = this.options.tailLines ?? 20;
    const tail: string[] = [];
    const remember = (chunk: Buffer): void => {
      tail.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      if (tail.length > keep) tail.splice(0, tail.length - keep);
    };
    return new Promise((resolve) => {
      const child = spawn(cmd, [...pre, ...transformArgs(version)], {
        env: { ...this.options.env, CLOUD_RUN_TASK_INDEX: String(index), CLOUD_RUN_TASK_COUNT: String(count) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.on('data', (c: Buffer) => {
        remember(c);
        if (forward) process.stdout.write(c);
      });
      child.stderr.on('data', (c: Buffer) => {
        remember(c);
        if (forward) process.stderr.write(c);
      });
      child.on('error', (err) => resolve({ index, reason: `could not start ${cmd}: ${err.message}` }));
      child.on('close', (code, signal) => {
        if (code === 0) resolve(undefined);
        else resolve({ index, reason: signal ? `killed by ${signal}` : `exit code ${code}`, logTail: tail.join('\n') });
      });
    });
  }
}
