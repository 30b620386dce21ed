import { availableParallelism } from 'node:os';
import { type RestStandIn, type SeenRequest as Seen, startRestStandIn } from '../../core/test/rest-stand-in';
import { ConfigError, loadConfig } from '../../core/config/load';
import { CloudRunJobEngine } from '../engines/cloud-run-job-engine';
import { openTaskEngine } from '../engines/open-engine';
import { LocalTaskEngine } from '../engines/local-task-engine';
import { TaskEngineError } from '../engines/task-engine';

/** The Cloud Run job engine against a local HTTP stand-in of the Cloud Run Admin API v2. */

const JOB = 'projects/my-proj/locations/europe-west4/jobs/cv-dev-preprocess';
const EXECUTION = `${JOB}/executions/cv-dev-preprocess-x7k2p`;
const OPERATION = 'projects/my-proj/locations/europe-west4/operations/op-123';
const LOGS = 'https://console.cloud.google.com/logs/viewer?project=my-proj&advancedFilter=x7k2p';

describe('CloudRunJobEngine', () => {
  let api: RestStandIn;
  let base: string;
  const seen: Seen[] = [];
  let respond: (req: Seen) => [number, unknown];
  beforeAll(async () => {
    api = await startRestStandIn(seen, (req) => respond(req));
    base = api.base;
  });
  afterAll(() => api.close());
  beforeEach(() => (seen.length = 0));

  const engine = () =>
    new CloudRunJobEngine({
      job: { project: 'my-proj', region: 'europe-west4', name: 'cv-dev-preprocess' },
      apiEndpoint: base,
      pollSeconds: 0.01,
      tokens: { getAccessToken: async () => 'tok-run' },
    });

  /** An operation that reports `polls` unfinished states, then finishes with `final`. */
  const operation = (polls: number, final: Record<string, unknown>) => {
    let gets = 0;
    return (req: Seen): [number, unknown] => {
      if (req.method === 'POST') return [200, { name: OPERATION, metadata: { name: EXECUTION, logUri: LOGS, taskCount: 3 }, done: false }];
      if (req.url === `/v2/${OPERATION}`) {
        gets++;
        if (gets <= polls) return [200, { name: OPERATION, metadata: { name: EXECUTION, succeededCount: gets - 1 }, done: false }];
        return [200, { name: OPERATION, done: true, metadata: { name: EXECUTION }, ...final }];
      }
      if (req.url.startsWith(`/v2/${EXECUTION}/tasks`))
        return [
          200,
          {
            tasks: [
              { index: 0, lastAttemptResult: { exitCode: 0 } },
              {
                index: 1,
                retried: 3,
                logUri: `${LOGS}-task1`,
                lastAttemptResult: { exitCode: 1, status: { code: 2, message: 'Task failed: exit 1' } },
              },
              { index: 2, lastAttemptResult: { exitCode: 0 } },
            ],
          },
        ];
      return [404, { error: { code: 404, message: `no route ${req.url}` } }];
    };
  };

  it('runs the job with the transform args and task count as overrides, and polls the operation until done', async () => {
    respond = operation(2, { response: { name: EXECUTION, logUri: LOGS, taskCount: 3, succeededCount: 3, failedCount: 0 } });
    const done: number[] = [];
    const report = await engine().runTransform({ version: 'v20261123T1200Z-ab12', taskCount: 3, onTaskDone: (d) => done.push(d) });
    expect(report).toMatchObject({ engine: 'cloud-run-job', taskCount: 3, execution: EXECUTION, logUri: LOGS });
    expect(done).toEqual([1, 2, 3]);

    const [run, ...polls] = seen;
    expect(run.method).toBe('POST');
    expect(run.url).toBe(`/v2/${JOB}:run`);
    expect(run.authorization).toBe('Bearer tok-run');
    expect(run.body).toEqual({
      overrides: {
        containerOverrides: [{ args: ['--stage', 'transform', '--no-progress', '--version', 'v20261123T1200Z-ab12'] }],
        taskCount: 3,
      },
    });
    expect(polls.map((p) => `${p.method} ${p.url}`)).toEqual(Array(3).fill(`GET /v2/${OPERATION}`));
    expect(polls.every((p) => p.authorization === 'Bearer tok-run')).toBe(true);
  });

  it('surfaces the operation error, the execution, the failed task and its logs', async () => {
    respond = operation(1, { error: { code: 9, message: 'Execution cv-dev-preprocess-x7k2p has failed to complete, 1/3 tasks failed.' } });
    const err = (await engine()
      .runTransform({ version: 'v1', taskCount: 3 })
      .catch((e: unknown) => e)) as TaskEngineError;
    expect(err).toBeInstanceOf(TaskEngineError);
    expect(err.execution).toBe(EXECUTION);
    expect(err.failedTasks).toEqual([
      { index: 1, reason: 'exit code 1: Task failed: exit 1 (after 3 retries)', logTail: `logs: ${LOGS}-task1` },
    ]);
    expect(err.message).toContain(`Cloud Run execution ${EXECUTION} of ${JOB} failed: Execution cv-dev-preprocess-x7k2p has failed`);
    expect(err.message).toContain('(code 9)');
    expect(err.message).toContain('transform task 1 of 3 failed');
  });

  it('treats a finished execution with failed tasks as a failure even without an operation error', async () => {
    respond = operation(0, { response: { name: EXECUTION, succeededCount: 2, failedCount: 1 } });
    await expect(engine().runTransform({ version: 'v1', taskCount: 3 })).rejects.toThrow(/1 task\(s\) failed or were cancelled/);
  });

  it('reports a refused run with the HTTP status and body, without polling', async () => {
    respond = () => [403, { error: { code: 403, message: "Permission 'run.jobs.runWithOverrides' denied on resource" } }];
    await expect(engine().runTransform({ version: 'v1', taskCount: 2 })).rejects.toThrow(
      new RegExp(`could not start Cloud Run job ${JOB}: .*POST .*:run: HTTP 403 .*run.jobs.runWithOverrides`),
    );
    expect(seen).toHaveLength(1);
  });

  it('follows the execution itself when the operation cannot be read (job-scoped IAM)', async () => {
    let execGets = 0;
    respond = (req) => {
      if (req.method === 'POST') return [200, { name: OPERATION, metadata: { name: EXECUTION }, done: false }];
      if (req.url === `/v2/${OPERATION}`) return [403, { error: { code: 403, message: "Permission 'run.operations.get' denied" } }];
      if (req.url === `/v2/${EXECUTION}`) {
        execGets++;
        return [
          200,
          execGets < 2
            ? { name: EXECUTION, taskCount: 2, succeededCount: 1 }
            : { name: EXECUTION, taskCount: 2, succeededCount: 2, completionTime: '2026-11-23T19:00:00Z' },
        ];
      }
      return [404, {}];
    };
    const done: number[] = [];
    await expect(engine().runTransform({ version: 'v1', taskCount: 2, onTaskDone: (d) => done.push(d) })).resolves.toMatchObject({
      execution: EXECUTION,
    });
    expect(seen.map((r) => r.url)).toEqual([`/v2/${JOB}:run`, `/v2/${OPERATION}`, `/v2/${EXECUTION}`, `/v2/${EXECUTION}`]);
    expect(done).toEqual([1, 2]);
  });

  it('rides out transient poll errors, but not a permanent one', async () => {
    let gets = 0;
    respond = (req) => {
      if (req.method === 'POST') return [200, { name: OPERATION, metadata: { name: EXECUTION }, done: false }];
      gets++;
      if (gets === 1) return [503, { error: { message: 'unavailable' } }];
      return [200, { name: OPERATION, done: true, response: { name: EXECUTION, succeededCount: 2 } }];
    };
    await expect(engine().runTransform({ version: 'v1', taskCount: 2 })).resolves.toMatchObject({ execution: EXECUTION });
    respond = (req) =>
      req.method === 'POST' ? [200, { name: OPERATION, metadata: { name: EXECUTION } }] : [404, { error: { message: 'gone' } }];
    await expect(engine().runTransform({ version: 'v1', taskCount: 2 })).rejects.toThrow(/lost track of execution .*HTTP 404/);
  });
});

describe('openTaskEngine (preprocessing.engine)', () => {
  const open = (preprocessing: Record<string, unknown>) => openTaskEngine(loadConfig({ env: {}, overrides: { preprocessing } }));

  it('in-process by default: no engine, today’s single-process run', () => {
    expect(open({})).toEqual({ taskCount: 1 });
  });

  it('local-tasks: one task per core unless tasks is set', () => {
    const cores = availableParallelism();
    expect(open({ engine: 'local-tasks' })).toMatchObject({ taskCount: cores });
    const o = open({ engine: 'local-tasks', tasks: 5 });
    expect(o.engine).toBeInstanceOf(LocalTaskEngine);
    expect(o.taskCount).toBe(5);
  });

  it('cloud-run-job: needs the job coordinates and a task count, named with their env variables', () => {
    expect(() => open({ engine: 'cloud-run-job', cloudRunJob: { project: 'p', region: '' } })).toThrow(ConfigError);
    let message = '';
    try {
      open({ engine: 'cloud-run-job', cloudRunJob: { project: 'p' } });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(
      'config key preprocessing.cloudRunJob.region (env CV_PREPROCESSING_CLOUD_RUN_JOB_REGION) must be set when preprocessing.engine is "cloud-run-job"',
    );
    expect(message).toContain('preprocessing.cloudRunJob.name (env CV_PREPROCESSING_CLOUD_RUN_JOB_NAME)');
    expect(message).toContain('config key preprocessing.tasks (env CV_PREPROCESSING_TASKS) = 0: must be ≥ 1');
    expect(message).not.toContain('cloudRunJob.project');
    const o = open({ engine: 'cloud-run-job', tasks: 4, cloudRunJob: { project: 'p-1', region: 'europe-west1', name: 'j' } });
    expect(o.engine).toBeInstanceOf(CloudRunJobEngine);
    expect((o.engine as CloudRunJobEngine).jobName).toBe('projects/p-1/locations/europe-west1/jobs/j');
    expect(o.taskCount).toBe(4);
  });

  it('an unknown engine is refused by the config schema with the accepted values', () => {
    expect(() => loadConfig({ env: { CV_PREPROCESSING_ENGINE: 'dataflow' } })).toThrow(
      /preprocessing.engine \(env CV_PREPROCESSING_ENGINE\) = "dataflow": expected one of "in-process", "local-tasks", "cloud-run-job"/,
    );
  });
});
