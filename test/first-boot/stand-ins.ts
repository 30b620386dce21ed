import { DuckDBInstance } from '@duckdb/node-api';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LocalIdTokenIssuer } from '../../workloads/core/gcp/local-id-tokens';
import { fromImage, runPipeline } from '../../pipeline-specs/runner';
import type { PipelineSpec } from '../../pipeline-specs/ir';
import type { RunResult } from '../../pipeline-specs/runner/types';
import { BigQueryStandIn, type QueryResult, type SchemaField } from '../../workloads/core/test/bigquery-stand-in';
import { type Image, type RunningContainer, startContainer } from './containers';
import type { DeclaredJob, DeclaredTable } from './deployment';

/**
 * Local stand-ins for the Google APIs the deployed workloads call, speaking each API's REST
 * shape closely enough for the real clients: the metadata server (tokens, project id), the
 * Vertex AI pipelineJobs API (it runs the submitted spec with the local runner on Vertex's
 * contract), the Cloud Run Admin API for jobs (it runs the declared job's tasks), BigQuery
 * (jobs.query and insertAll over DuckDB, tables from the declared schemas), and a file server
 * for the backbone weights. Cloud Storage is workloads/core/test/gcs-stand-in.ts.
 */

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const close = (server: Server) => (): Promise<void> =>
  new Promise((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });

async function readBody(req: IncomingMessage): Promise<unknown> {
  let data = '';
  for await (const c of req) data += c;
  return data ? JSON.parse(data) : undefined;
}
function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** The access token the metadata server hands a service account: the stand-ins read the caller from it. */
export const tokenFor = (email: string): string => `stand-in-token.${email}`;
const callerOf = (req: IncomingMessage): string | undefined => /^Bearer stand-in-token\.(.+)$/.exec(req.headers.authorization ?? '')?.[1];

/**
 * The metadata server of a container running as `email` (GCE_METADATA_HOST): what Cloud Run
 * and Vertex AI give a workload instead of key files.
 */
export async function startMetadataServer(project: string, email: string): Promise<{ host: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (req.headers['metadata-flavor'] !== 'Google') return void res.writeHead(403).end('Missing Metadata-Flavor: Google');
    const text = (status: number, body: string): void =>
      void res.writeHead(status, { 'metadata-flavor': 'Google', 'content-type': 'application/text' }).end(body);
    const p = url.pathname.replace(/\/+$/, '');
    if (p === '/computeMetadata/v1' || p === '/computeMetadata/v1/instance') return text(200, '');
    if (p === '/computeMetadata/v1/project/project-id') return text(200, project);
    if (p === '/computeMetadata/v1/project/numeric-project-id') return text(200, '123456789012');
    if (p === '/computeMetadata/v1/universe/universe-domain') return text(200, 'googleapis.com');
    if (p === '/computeMetadata/v1/instance/service-accounts/default/email') return text(200, email);
    if (p === '/computeMetadata/v1/instance/service-accounts/default/token') {
      res.writeHead(200, { 'metadata-flavor': 'Google', 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ access_token: tokenFor(email), expires_in: 3599, token_type: 'Bearer' }));
    }
    return text(404, `stand-in has no ${p}`);
  });
  return { host: await listen(server), close: close(server) };
}

/**
 * Google's ID-token certificates (the PEM endpoint google-auth-library verifies against):
 * Cloud Scheduler's OIDC tokens are signed here by a key of the test's own, and the
 * containers are pointed at this endpoint as they are at the other APIs' stand-ins.
 */
export async function startGoogleCertsStandIn(issuer: LocalIdTokenIssuer): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_req, res) => json(res, 200, issuer.certs()));
  return { url: `http://${await listen(server)}/oauth2/v1/certs`, close: close(server) };
}

/** BigQuery's REST API over DuckDB: the declared tables, standard SQL as the workloads write it. */
export async function startBigQueryOnDuckDb(tables: DeclaredTable[]): Promise<{ url: string; close(): Promise<void> }> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run("SET TimeZone = 'UTC'");
  const DUCK: Record<string, string> = {
    STRING: 'VARCHAR',
    INT64: 'BIGINT',
    INTEGER: 'BIGINT',
    FLOAT64: 'DOUBLE',
    FLOAT: 'DOUBLE',
    BOOL: 'BOOLEAN',
    BOOLEAN: 'BOOLEAN',
    TIMESTAMP: 'TIMESTAMPTZ',
  };
  const declared = new Map(tables.map((t) => [t.table, t]));
  for (const t of tables) {
    await conn.run(`CREATE TABLE "${t.table}" (${t.fields.map((f) => `"${f.name}" ${DUCK[f.type] ?? 'VARCHAR'}`).join(', ')})`);
  }
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };
  const bq = new BigQueryStandIn();
  bq.onInsert = (_dataset, table, rows) =>
    serial(async () => {
      const t = declared.get(table);
      if (!t) throw new Error(`insertAll into ${table}, which the stack does not declare`);
      const cols = t.fields.map((f) => `"${f.name}"`).join(', ');
      const marks = t.fields.map((f) => (f.type === 'TIMESTAMP' ? 'CAST(? AS TIMESTAMPTZ)' : '?')).join(', ');
      for (const r of rows) {
        const values = t.fields.map((f) => (r[f.name] === undefined ? null : (r[f.name] as string | number | boolean | null)));
        await conn.run(`INSERT INTO "${table}" (${cols}) VALUES (${marks})`, values);
      }
    });
  bq.resultFor = (sql, params) =>
    serial(async (): Promise<QueryResult> => {
      // `project.dataset.table` → "table"; @name → $name, typed as BigQuery sent it.
      const text = sql.replace(/`[^`]+\.([A-Za-z0-9_]+)`/g, '"$1"').replace(/@([A-Za-z_][A-Za-z0-9_]*)/g, '$$$1');
      const values = Object.fromEntries(
        params.map((p) => [
          p.name,
          p.value === null
            ? null
            : ['INT64', 'FLOAT64', 'NUMERIC'].includes(p.type)
              ? Number(p.value)
              : p.type === 'BOOL'
                ? p.value === 'true'
                : p.value,
        ]),
      );
      const reader = await conn.runAndReadAll(text, values as Record<string, string | number | boolean | null>);
      const names = reader.columnNames();
      const types = reader.columnTypes().map((t) => String(t));
      const schema: SchemaField[] = names.map((name, i) => ({ name, type: bigQueryType(types[i]) }));
      const rows = reader.getRowObjectsJS().map((row) =>
        Object.fromEntries(
          names.map((n, i) => {
            const v = row[n];
            if (v === null || v === undefined) return [n, null];
            if (typeof v === 'bigint') return [n, Number(v)];
            if (v instanceof Date) return [n, schema[i].type === 'TIMESTAMP' ? v : v.toISOString().slice(0, 10)];
            return [n, v as string | number | boolean];
          }),
        ),
      );
      return { schema, rows };
    });
  const url = await bq.start();
  return {
    url,
    close: async () => {
      await bq.stop();
      conn.closeSync();
      db.closeSync();
    },
  };
}

function bigQueryType(duck: string): SchemaField['type'] {
  if (/^(BIGINT|INTEGER|HUGEINT|SMALLINT|TINYINT|UBIGINT|UINTEGER)$/.test(duck)) return 'INT64';
  if (/^(DOUBLE|FLOAT|REAL|DECIMAL)/.test(duck)) return 'FLOAT64';
  if (duck === 'BOOLEAN') return 'BOOL';
  if (/^TIMESTAMP/.test(duck)) return 'TIMESTAMP';
  return 'STRING';
}

export interface VertexStandIn {
  url: string;
  /** Runs by pipelineJobId, in submission order. */
  runs: Map<string, Promise<RunResult>>;
  /** Requests the API refused, with why. */
  refused: string[];
  close(): Promise<void>;
}

/**
 * Vertex AI pipelineJobs (create, list): a created job runs the submitted spec with the local
 * runner on Vertex's contract: each step in the image's working directory with its declared
 * command, as the image's user with a HOME of its own, output files under the run's folder
 * that nothing creates for the step (in the pipeline root, the user's to write), the step's
 * env as the spec binds it (plus the stand-in redirects), as the pipeline's account.
 */
export async function startVertexStandIn(options: {
  project: string;
  region: string;
  image: Image;
  /** The image digest every step must run. */
  imageRef: string;
  /** Who may create jobs (the trigger's account) and who the jobs run as (the pipeline's). */
  caller: string;
  runAs: string;
  /** A step container's environment: its declared env with the stand-ins and platform variables. */
  stepEnv(declared: Record<string, string>, runAs: string, jobId: string): Record<string, string>;
  pipelineRoot: string;
}): Promise<VertexStandIn> {
  const runs = new Map<string, Promise<RunResult>>();
  const states = new Map<string, string>();
  const refused: string[] = [];
  const parent = `/v1/projects/${options.project}/locations/${options.region}/pipelineJobs`;
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url!, 'http://x');
      const body = (await readBody(req)) as Record<string, any> | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
      const refuse = (status: number, message: string): void => {
        refused.push(`${req.method} ${url.pathname}: ${message}`);
        json(res, status, { error: { code: status, message } });
      };
      if (url.pathname !== parent) return refuse(404, `no such resource ${url.pathname}`);
      if (callerOf(req) !== options.caller) return refuse(403, `caller ${callerOf(req)} may not use pipelineJobs`);
      if (req.method === 'GET') {
        const active = [...states]
          .filter(([, s]) => s === 'PIPELINE_STATE_RUNNING')
          .map(([id, state]) => ({ name: `${parent.slice(4)}/${id}`, state }));
        return json(res, 200, active.length ? { pipelineJobs: active } : {});
      }
      const id = url.searchParams.get('pipelineJobId');
      if (req.method !== 'POST' || !id || !body) return refuse(400, 'expected POST ?pipelineJobId= with a body');
      if (runs.has(id)) return refuse(409, `pipelineJob ${id} already exists`);
      if (body.serviceAccount !== options.runAs) return refuse(400, `serviceAccount ${body.serviceAccount}, expected ${options.runAs}`);
      const spec = JSON.parse(JSON.stringify(body.pipelineSpec)) as PipelineSpec;
      for (const [name, { container }] of Object.entries(spec.deploymentSpec.executors)) {
        if (container.image !== options.imageRef) return refuse(400, `executor ${name} runs ${container.image}, not the stack's image`);
        const declared = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
        container.env = Object.entries(options.stepEnv(declared, options.runAs, id)).map(([n, value]) => ({ name: n, value }));
      }
      states.set(id, 'PIPELINE_STATE_RUNNING');
      const run = runPipeline({
        spec,
        runId: id,
        parameters: body.runtimeConfig?.parameterValues,
        launch: fromImage(options.image.workdir),
        env: {},
        workDir: options.pipelineRoot,
      }).finally(() => undefined);
      run.then(
        (r) => states.set(id, r.status === 'succeeded' ? 'PIPELINE_STATE_SUCCEEDED' : 'PIPELINE_STATE_FAILED'),
        () => states.set(id, 'PIPELINE_STATE_FAILED'),
      );
      runs.set(id, run);
      json(res, 200, { name: `${parent.slice(4)}/${id}`, state: 'PIPELINE_STATE_PENDING' });
    })().catch((err: Error) => json(res, 500, { error: { code: 500, message: err.message } }));
  });
  return { url: `http://${await listen(server)}`, runs, refused, close: close(server) };
}

/**
 * Cloud Run Admin API v2 for the declared job: jobs.run (with overrides) starts an
 * execution of `taskCount` tasks of the job's container, each with CLOUD_RUN_TASK_INDEX /
 * COUNT, retried up to maxRetries; the long-running operation, the execution and its tasks
 * can be read. Only members the stack granted run.jobsExecutorWithOverrides may run it.
 */
export async function startCloudRunJobsStandIn(options: {
  project: string;
  region: string;
  job: DeclaredJob;
  image: Image;
  taskEnv(declared: Record<string, string>, runAs: string, platform: Record<string, string>): Record<string, string>;
}): Promise<{ url: string; executions: string[]; refused: string[]; close(): Promise<void> }> {
  const { job } = options;
  const jobPath = `projects/${options.project}/locations/${options.region}/jobs/${job.name}`;
  const executions: string[] = [];
  const refused: string[] = [];
  const ops = new Map<
    string,
    { execution: string; done: boolean; succeeded: number; failed: number; tasks: Array<{ index: number; exit: number | string }> }
  >();
  const running: RunningContainer[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url!, 'http://x');
      const body = (await readBody(req)) as
        { overrides?: { containerOverrides?: Array<{ args?: string[] }>; taskCount?: number } } | undefined;
      const refuse = (status: number, message: string): void => {
        refused.push(`${req.method} ${url.pathname}: ${message}`);
        json(res, status, { error: { code: status, message } });
      };
      const member = `serviceAccount:${callerOf(req)}`;
      if (req.method === 'POST' && url.pathname === `/v2/${jobPath}:run`) {
        if (!(job.grants['roles/run.jobsExecutorWithOverrides'] ?? []).includes(member))
          return refuse(403, `${member} may not run ${job.name} with overrides`);
        const taskCount = body?.overrides?.taskCount ?? job.taskCount;
        const args = body?.overrides?.containerOverrides?.[0]?.args ?? job.container.args;
        const execution = `${jobPath}/executions/${job.name}-${String(executions.length + 1).padStart(5, '0')}`;
        executions.push(execution);
        const op = { execution, done: false, succeeded: 0, failed: 0, tasks: [] as Array<{ index: number; exit: number | string }> };
        const opName = `projects/${options.project}/locations/${options.region}/operations/op-${executions.length}`;
        ops.set(opName, op);
        void (async () => {
          const runTask = async (index: number): Promise<void> => {
            for (let attempt = 0; attempt <= job.maxRetries; attempt++) {
              const platform = {
                CLOUD_RUN_JOB: job.name,
                CLOUD_RUN_EXECUTION: execution.split('/').pop()!,
                CLOUD_RUN_TASK_INDEX: String(index),
                CLOUD_RUN_TASK_COUNT: String(taskCount),
                CLOUD_RUN_TASK_ATTEMPT: String(attempt),
              };
              const c = startContainer(
                options.image,
                `${job.name}-task-${index}`,
                { command: job.container.command, args },
                options.taskEnv(job.container.env, job.serviceAccount, platform),
              );
              running.push(c);
              const exit = await c.exited;
              if (exit === 0) return (void op.tasks.push({ index, exit }), void op.succeeded++);
              if (attempt === job.maxRetries) {
                op.tasks.push({ index, exit });
                op.failed++;
                process.stderr.write(`[first-boot] ${job.name} task ${index} failed (${exit}):\n${c.tail(40)}\n`);
              }
            }
          };
          const parallel = job.parallelism > 0 ? job.parallelism : taskCount;
          const queue = Array.from({ length: taskCount }, (_, i) => i);
          await Promise.all(
            Array.from({ length: Math.min(parallel, taskCount) }, async () => {
              for (let i = queue.shift(); i !== undefined; i = queue.shift()) await runTask(i);
            }),
          );
          op.done = true;
        })();
        return json(res, 200, { name: opName, metadata: { name: execution }, done: false });
      }
      const op = ops.get(url.pathname.replace(/^\/v2\//, ''));
      if (req.method === 'GET' && op) {
        const status = { name: op.execution, succeededCount: op.succeeded, failedCount: op.failed, taskCount: op.tasks.length };
        return json(res, 200, { name: url.pathname.slice(4), done: op.done, metadata: status, ...(op.done ? { response: status } : {}) });
      }
      const tasksOf = [...ops.values()].find((o) => url.pathname === `/v2/${o.execution}/tasks`);
      if (req.method === 'GET' && tasksOf) {
        return json(res, 200, {
          tasks: tasksOf.tasks.map((t) => ({
            name: `${tasksOf.execution}/tasks/${t.index}`,
            index: t.index,
            lastAttemptResult: { exitCode: t.exit },
          })),
        });
      }
      return refuse(404, `stand-in has no ${req.method} ${url.pathname}`);
    })().catch((err: Error) => json(res, 500, { error: { code: 500, message: err.message } }));
  });
  return {
    url: `http://${await listen(server)}`,
    executions,
    refused,
    close: async () => {
      await Promise.all(running.map((c) => c.stop()));
      await close(server)();
    },
  };
}
