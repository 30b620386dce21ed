import type { Logger } from '../../core/log';
import { googleTokenSource, type TokenSource } from '../../core/gcp/token-source';
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
 * Runs the transform tasks as one execution of a Cloud Run job (Cloud Run Admin API v2):
 *
 *   POST {base}/v2/projects/{project}/locations/{region}/jobs/{job}:run
 *        {overrides: {containerOverrides: [{args: [--stage transform --version V …]}], taskCount: N}}
 *     → a long-running Operation whose metadata is the new Execution;
 *   GET  {base}/v2/{operation.name} every pollSeconds until `done`;
 *     → `error` (google.rpc.Status) or `response` (the finished Execution, with its counts).
 *
 * Cloud Run gives each task CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT, which the CLI reads.
 * The job (image by digest, the preprocessing service account, CV_* env, CPU/memory, task
 * timeout, retries, parallelism) is declared by the stack (components/preprocessing-job.ts);
 * the caller needs `run.jobs.runWithOverrides` on it (roles/run.jobsExecutorWithOverrides).
 * Authenticated with the caller's own service-account token (metadata server on Google
 * Cloud; no key files), as the trigger's Vertex submitter does.
 */

export interface CloudRunJobRef {
  project: string;
  region: string;
  name: string;
}

export interface CloudRunJobEngineOptions {
  job: CloudRunJobRef;
  /** Base URL of the Admin API (default https://run.googleapis.com; tests use a local stand-in). */
  apiEndpoint?: string;
  /** Seconds between polls of the operation (default 10). */
  pollSeconds?: number;
  /** Consecutive failed polls (HTTP 429/5xx, network) tolerated before giving up (default 5). */
  maxPollErrors?: number;
  tokens?: TokenSource;
  fetch?: typeof fetch;
  log?: Logger;
}

/** The parts of google.longrunning.Operation and run.v2.Execution/Task this engine reads. */
interface Operation {
  name?: string;
  done?: boolean;
  error?: { code?: number; message?: string };
  metadata?: Execution;
  response?: Execution;
}
interface Execution {
  name?: string;
  logUri?: string;
  /** Set once every task has finished (succeeded, failed or cancelled). */
  completionTime?: string;
  taskCount?: number;
  succeededCount?: number;
  failedCount?: number;
  cancelledCount?: number;
}
interface Task {
  index?: number;
  logUri?: string;
  retried?: number;
  lastAttemptResult?: { status?: { code?: number; message?: string }; exitCode?: number };
}

class HttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** An Execution read directly, in the shape of the operation that would report it. */
function executionAsOperation(e: Execution, taskCount: number): Operation {
  const finished = (e.succeededCount ?? 0) + (e.failedCount ?? 0) + (e.cancelledCount ?? 0);
  const done = Boolean(e.completionTime) || finished >= (e.taskCount ?? taskCount);
  return { done, metadata: e, response: done ? e : undefined };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class CloudRunJobEngine implements TaskEngine {
  readonly name = 'cloud-run-job' as const;
  private readonly base: string;
  private readonly tokens: TokenSource;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: CloudRunJobEngineOptions) {
    this.base = (options.apiEndpoint || 'https://run.googleapis.com').replace(/\/+$/, '');
    this.tokens = options.tokens ?? googleTokenSource();
    this.fetch = options.fetch ?? fetch;
  }

  /** `projects/{p}/locations/{r}/jobs/{j}`. */
  get jobName(): string {
    const { project, region, name } = this.options.job;
    return `projects/${encodeURIComponent(project)}/locations/${encodeURIComponent(region)}/jobs/${encodeURIComponent(name)}`;
  }

  /** The `jobs.run` request body (exported for inspection and tests). */
  runRequest(request: TransformTasksRequest): { overrides: { containerOverrides: { args: string[] }[]; taskCount: number } } {
    return { overrides: { containerOverrides: [{ args: transformArgs(request.version) }], taskCount: request.taskCount } };
  }

  async runTransform(request: TransformTasksRequest): Promise<TaskRunReport> {
    const { taskCount } = request;
    if (!Number.isInteger(taskCount) || taskCount < 1) throw new Error(`task count must be a whole number ≥ 1, got ${taskCount}`);
    const started = Date.now();
    let op: Operation;
    try {
      op = await this.call<Operation>('POST', `${this.base}/v2/${this.jobName}:run`, this.runRequest(request));
    } catch (err) {
      throw new TaskEngineError('cloud-run-job', `could not start Cloud Run job ${this.jobName}: ${(err as Error).message}`);
    }
    const execution = op.metadata?.name;
    this.options.log?.info({ event: 'job_execution_started', job: this.jobName, execution, operation: op.name, taskCount }, 'job started');
    if (!op.done && !op.name)
      throw new TaskEngineError('cloud-run-job', `jobs.run on ${this.jobName} returned no operation name to follow`, [], execution);

    let pollErrors = 0;
    let reported = 0;
    let followExecution = false;
    const operationName = op.name;
    while (!op.done) {
      await sleep((this.options.pollSeconds ?? 10) * 1000);
      try {
        op = followExecution
          ? executionAsOperation(await this.call<Execution>('GET', `${this.base}/v2/${execution}`), taskCount)
          : await this.call<Operation>('GET', `${this.base}/v2/${operationName}`);
        pollErrors = 0;
      } catch (err) {
        // Reading the operation needs run.operations.get, which a job-scoped grant may not carry; the
        // execution itself is a child of the job (run.executions.get, roles/run.viewer on the job): follow that instead.
        if (!followExecution && execution && err instanceof HttpError && (err.status === 403 || err.status === 404)) {
          this.options.log?.warn(
            { operation: operationName, execution, status: err.status },
            'cannot read the operation; following the execution',
          );
          followExecution = true;
          continue;
        }
        const retriable = !(err instanceof HttpError) || err.status === 429 || err.status >= 500;
        if (!retriable || ++pollErrors > (this.options.maxPollErrors ?? 5))
          throw new TaskEngineError(
            'cloud-run-job',
            `lost track of execution ${execution ?? '(unknown)'} of ${this.jobName}: ${(err as Error).message}`,
            [],
            execution,
          );
        continue;
      }
      const succeeded = op.metadata?.succeededCount ?? 0;
      // (++ outside the optional call: `f?.(++x)` skips the increment when f is absent.)
      while (reported < Math.min(succeeded, taskCount)) {
        reported++;
        request.onTaskDone?.(reported, taskCount);
      }
    }

    const result = op.response ?? op.metadata ?? {};
    const name = result.name ?? execution;
    const logUri = result.logUri ?? op.metadata?.logUri;
    const failedCount = (result.failedCount ?? 0) + (result.cancelledCount ?? 0);
    if (op.error || failedCount > 0 || (result.succeededCount !== undefined && result.succeededCount < taskCount)) {
      const failures = name ? await this.failedTasks(name) : [];
      const why = op.error
        ? `${op.error.message ?? 'no message'} (code ${op.error.code ?? '?'})`
        : `${failedCount} task(s) failed or were cancelled`;
      const detail = failures.length ? `\n${describeFailures(failures, taskCount)}` : '';
      throw new TaskEngineError(
        'cloud-run-job',
        `Cloud Run execution ${name ?? '(unknown)'} of ${this.jobName} failed: ${why}${detail}${logUri ? `\nlogs: ${logUri}` : ''}`,
        failures,
        name,
        logUri,
      );
    }
    while (reported < taskCount) {
      reported++;
      request.onTaskDone?.(reported, taskCount);
    }
    return { engine: 'cloud-run-job', taskCount, seconds: (Date.now() - started) / 1000, execution: name, logUri };
  }

  /** Best effort: which tasks failed and where their logs are (needs run.tasks.list; errors are swallowed). */
  private async failedTasks(execution: string): Promise<TaskFailure[]> {
    try {
      const body = await this.call<{ tasks?: Task[] }>('GET', `${this.base}/v2/${execution}/tasks?pageSize=1000`);
      return (body.tasks ?? [])
        .filter((t) => (t.lastAttemptResult?.exitCode ?? 0) !== 0 || (t.lastAttemptResult?.status?.code ?? 0) !== 0)
        .map((t) => ({
          index: t.index ?? 0,
          reason:
            `exit code ${t.lastAttemptResult?.exitCode ?? '?'}` +
            (t.lastAttemptResult?.status?.message ? `: ${t.lastAttemptResult.status.message}` : '') +
            (t.retried ? ` (after ${t.retried} retries)` : ''),
          logTail: t.logUri ? `logs: ${t.logUri}` : undefined,
        }));
    } catch (err) {
      this.options.log?.warn({ execution, err: (err as Error).message }, 'could not list the failed execution’s tasks');
      return [];
    }
  }

  private async call<T>(method: 'GET' | 'POST', url: string, body?: unknown): Promise<T> {
    const token = await this.tokens.getAccessToken();
    const res = await this.fetch(url, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw new HttpError(`Cloud Run Admin API ${method} ${url.split('?')[0]}: HTTP ${res.status} ${text.slice(0, 500)}`, res.status);
    }
    return (await res.json()) as T;
  }
}
