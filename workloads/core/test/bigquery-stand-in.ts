import * as http from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * A local stand-in for the BigQuery REST endpoints BigQueryWarehouse uses, so the real
 * @google-cloud/bigquery client can be pointed at it and its requests asserted:
 *   POST /bigquery/v2/projects/:p/datasets/:d/tables/:t/insertAll   tabledata.insertAll
 *   POST /bigquery/v2/projects/:p/queries                           jobs.query
 *   POST /bigquery/v2/projects/:p/jobs                              jobs.insert (query jobs)
 *   GET  /bigquery/v2/projects/:p/queries/:jobId                    jobs.getQueryResults
 * By default it runs no SQL: tests choose each query's result (and whether it is slow) by its
 * SQL text. `resultFor` and `onInsert` may be asynchronous, so a test can back it with a real
 * engine (the first-boot test runs the SQL on DuckDB).
 */

/** A named query parameter as jobs.query receives it, its value as sent (a string, or null). */
export interface QueryParameter {
  name: string;
  type: string;
  value: string | null;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  body?: Record<string, unknown>;
}

export interface SchemaField {
  name: string;
  type: 'STRING' | 'INT64' | 'INTEGER' | 'FLOAT64' | 'FLOAT' | 'BOOL' | 'BOOLEAN' | 'TIMESTAMP';
  mode?: 'NULLABLE' | 'REQUIRED';
}

export interface QueryResult {
  schema: SchemaField[];
  /** Plain values; timestamps as Date, encoded the way BigQuery sends them. */
  rows: Array<Record<string, string | number | boolean | Date | null>>;
}

export class BigQueryStandIn {
  readonly requests: RecordedRequest[] = [];
  /** Rows stored by insertAll, per `dataset.table`. */
  readonly tables = new Map<string, Array<{ insertId?: string; json: Record<string, unknown> }>>();
  /** What a query answers, chosen by its SQL text (and parameters). */
  resultFor: (sql: string, params: QueryParameter[]) => QueryResult | Promise<QueryResult> = () => ({ schema: [], rows: [] });
  /** Called with the rows of an accepted insertAll (before it is answered). */
  onInsert?: (dataset: string, table: string, rows: Array<Record<string, unknown>>) => Promise<void>;
  /** Queries for which jobs.query answers "not complete yet", so the client must poll getQueryResults. */
  isSlow: (sql: string) => boolean = () => false;
  /** Per-row errors insertAll answers for a request (index → reason/message), if any. */
  insertErrorsFor: (
    table: string,
    rows: Array<{ insertId?: string; json: Record<string, unknown> }>,
  ) => Array<{ index: number; reason: string; message: string }> | undefined = () => undefined;
  private jobs = 0;
  /** SQL and parameters of each job, so getQueryResults answers for the right query. */
  private jobSql = new Map<string, { sql: string; params: QueryParameter[] }>();
  private server?: http.Server;
  url = '';

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.handle(req, Buffer.concat(chunks), res).catch((err: Error) => send(res, 500, { error: { code: 500, message: err.message } }));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  private async handle(req: http.IncomingMessage, raw: Buffer, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url!, 'http://x');
    const body = raw.length ? (JSON.parse(raw.toString('utf8')) as Record<string, unknown>) : undefined;
    const query = Object.fromEntries(url.searchParams);
    this.requests.push({ method: req.method!, path: url.pathname, query, headers: req.headers, body });

    const insertAll = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/]+)\/insertAll$/.exec(url.pathname);
    if (insertAll && req.method === 'POST') {
      const key = `${insertAll[2]}.${insertAll[3]}`;
      const rows = (body!.rows as Array<{ insertId?: string; json: Record<string, unknown> }>) ?? [];
      const errors = this.insertErrorsFor(insertAll[3], rows);
      if (errors) {
        return send(res, 200, {
          kind: 'bigquery#tableDataInsertAllResponse',
          insertErrors: errors.map((e) => ({ index: e.index, errors: [{ reason: e.reason, location: '', message: e.message }] })),
        });
      }
      await this.onInsert?.(
        insertAll[2],
        insertAll[3],
        rows.map((r) => r.json),
      );
      this.tables.set(key, [...(this.tables.get(key) ?? []), ...rows]);
      return send(res, 200, { kind: 'bigquery#tableDataInsertAllResponse' });
    }
    const project = /^\/bigquery\/v2\/projects\/([^/]+)\//.exec(url.pathname)?.[1];
    if (url.pathname === `/bigquery/v2/projects/${project}/queries` && req.method === 'POST') {
      const jobId = `job_${++this.jobs}`;
      const location = (body!.location as string | undefined) ?? 'US';
      const ref = { projectId: project, jobId, location };
      const job = { sql: body!.query as string, params: parametersOf(body!.queryParameters) };
      this.jobSql.set(jobId, job);
      if (this.isSlow(job.sql)) return send(res, 200, { kind: 'bigquery#queryResponse', jobReference: ref, jobComplete: false });
      const int64 = (body!.formatOptions as { useInt64Timestamp?: boolean } | undefined)?.useInt64Timestamp === true;
      return send(res, 200, {
        kind: 'bigquery#queryResponse',
        jobReference: ref,
        jobComplete: true,
        ...(await this.encodedResult(job, int64)),
      });
    }
    if (url.pathname === `/bigquery/v2/projects/${project}/jobs` && req.method === 'POST') {
      const jobId = ((body!.jobReference as { jobId?: string } | undefined)?.jobId ?? `job_${++this.jobs}`) as string;
      const location = (body!.jobReference as { location?: string } | undefined)?.location;
      const q = (body!.configuration as { query?: { query?: string; queryParameters?: unknown } }).query;
      this.jobSql.set(jobId, { sql: q?.query ?? '', params: parametersOf(q?.queryParameters) });
      return send(res, 200, {
        kind: 'bigquery#job',
        id: `${project}:${location ?? 'US'}.${jobId}`,
        jobReference: { projectId: project, jobId, location },
        configuration: body!.configuration,
        status: { state: 'RUNNING' },
      });
    }
    const results = new RegExp(`^/bigquery/v2/projects/${project}/queries/([^/]+)$`).exec(url.pathname);
    if (results && req.method === 'GET') {
      const int64 = query['formatOptions.useInt64Timestamp'] === 'true';
      const job = this.jobSql.get(results[1]);
      if (job === undefined) return send(res, 404, { error: { code: 404, message: `Not found: Job ${project}:${results[1]}` } });
      return send(res, 200, {
        kind: 'bigquery#getQueryResultsResponse',
        jobReference: { projectId: project, jobId: results[1], location: query.location },
        jobComplete: true,
        ...(await this.encodedResult(job, int64)),
      });
    }
    return send(res, 501, { error: { code: 501, message: `stand-in does not implement ${req.method} ${url.pathname}` } });
  }

  /** Rows in BigQuery's wire format: every cell a string in `{f: [{v}]}`. */
  private async encodedResult(job: { sql: string; params: QueryParameter[] }, int64Timestamps: boolean): Promise<Record<string, unknown>> {
    const { schema, rows } = await this.resultFor(job.sql, job.params);
    return {
      schema: { fields: schema.map((f) => ({ mode: 'NULLABLE', ...f })) },
      totalRows: String(rows.length),
      rows: rows.map((r) => ({
        f: schema.map((f) => {
          const v = r[f.name];
          if (v === null || v === undefined) return { v: null };
          if (v instanceof Date) return { v: int64Timestamps ? String(BigInt(v.getTime()) * 1000n) : String(v.getTime() / 1000) };
          return { v: String(v) };
        }),
      })),
    };
  }
}

/** jobs.query's `queryParameters` (named, scalar) as name, type and value. */
function parametersOf(raw: unknown): QueryParameter[] {
  const list = (raw ?? []) as Array<{ name?: string; parameterType?: { type?: string }; parameterValue?: { value?: string | null } }>;
  return list.map((p) => ({ name: p.name ?? '', type: p.parameterType?.type ?? 'STRING', value: p.parameterValue?.value ?? null }));
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(body));
}
