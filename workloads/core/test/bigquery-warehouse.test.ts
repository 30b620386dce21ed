import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { TABLE_NAMES } from '../warehouse/tables';
import { serializeRows, Value } from '../warehouse/warehouse';
import { BigQueryStandIn, QueryResult } from './bigquery-stand-in';
import { SAMPLE_ROWS } from './sample-rows';

const PROJECT = 'cv-test-project';
const DATASET = 'creature_vision';
const DRIVER = path.join(__dirname, 'fixtures', 'bigquery-driver.ts');

type Op = { op: 'insert'; table: string; rows: Record<string, unknown>[] } | { op: 'query'; sql: string; params?: Record<string, Value> };
type Result = { ok: boolean; rows?: Record<string, Value>[]; error?: string; name?: string };

/**
 * Runs the real BigQueryWarehouse + @google-cloud/bigquery in a child Node process (see the
 * driver for why) against the stand-in, and returns one result per operation.
 */
async function drive(endpoint: string, ops: Op[], env: Record<string, string> = {}): Promise<Result[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', DRIVER, endpoint, PROJECT, DATASET, 'EU'], {
    // No GCE metadata probing: there is no network here and the custom endpoint needs no credentials.
    env: { ...process.env, METADATA_SERVER_DETECTION: 'none', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.stdin.end(JSON.stringify(ops));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`BigQuery driver exited with ${code}: ${err}`);
  return JSON.parse(out) as Result[];
}

const insertOp = (table: string, rows: Record<string, unknown>[]): Op => ({ op: 'insert', table, rows: serializeRows(rows) });

const MAIN_SQL =
  'SELECT ts, true_label AS label, COUNT(*) AS n FROM {{prediction_events}} p JOIN {{feedback}} f USING (prediction_id) ' +
  'WHERE p.source = @source AND p.confidence > @minConfidence AND p.latency_ms < @maxLatency AND p.correct = @correct AND p.model_version = @version';
const MAIN_RESULT: QueryResult = {
  schema: [
    { name: 'ts', type: 'TIMESTAMP' },
    { name: 'label', type: 'STRING' },
    { name: 'n', type: 'INTEGER' },
    { name: 'acc', type: 'FLOAT' },
    { name: 'correct', type: 'BOOLEAN' },
    { name: 'model_version', type: 'STRING' },
  ],
  rows: [
    { ts: new Date('2026-11-23T10:00:00.123Z'), label: 'beagle', n: 3, acc: 0.5, correct: true, model_version: null },
    { ts: new Date('2026-11-23T11:00:00.000Z'), label: 'pug', n: 1, acc: 1, correct: false, model_version: 'v2' },
  ],
};
/** Answered "not complete yet" by jobs.query, so the client polls getQueryResults. */
const SLOW_SQL = 'SELECT COUNT(*) AS n FROM {{model_events}}';
/** Run with the fast path off: jobs.insert + getQueryResults. */
const JOB_SQL = 'SELECT MAX(ts) AS ts FROM {{training_runs}} WHERE status = @status';
const REFUSED_ID = 'fb-refused';

describe('BigQueryWarehouse against a local stand-in of the BigQuery REST API', () => {
  const bq = new BigQueryStandIn();
  const later = new Date('2026-11-24T01:02:03.004Z');
  let fast: Result[];
  let jobs: Result[];

  // Two client processes (fast query path on and off) run every operation once; each test
  // then checks its share of the answers and of the requests the stand-in recorded.
  beforeAll(async () => {
    const endpoint = await bq.start();
    bq.resultFor = (sql) => {
      if (sql.includes('model_events')) return { schema: [{ name: 'n', type: 'INT64' }], rows: [{ n: 42 }] };
      if (sql.includes('training_runs'))
        return { schema: [{ name: 'ts', type: 'TIMESTAMP' }], rows: [{ ts: new Date('2026-01-02T03:04:05.678Z') }] };
      return MAIN_RESULT;
    };
    bq.isSlow = (sql) => sql.includes('model_events');
    bq.insertErrorsFor = (_table, rows) =>
      rows.some((r) => r.json.feedback_id === REFUSED_ID)
        ? rows.map((r, index) =>
            r.json.feedback_id === REFUSED_ID
              ? { index, reason: 'invalid', message: 'no such field: colour.' }
              : { index, reason: 'stopped', message: '' },
          )
        : undefined;
    [fast, jobs] = await Promise.all([
      drive(endpoint, [
        ...TABLE_NAMES.map((t) => insertOp(t, [SAMPLE_ROWS[t] as Record<string, unknown>, { ...SAMPLE_ROWS[t], ts: later }])),
        insertOp('feedback', [{ ...SAMPLE_ROWS.feedback, correct: 1 }]),
        insertOp('feedback', [SAMPLE_ROWS.feedback, { ...SAMPLE_ROWS.feedback, feedback_id: REFUSED_ID }]),
        insertOp('feedback', []),
        {
          op: 'query',
          sql: MAIN_SQL,
          params: { source: 'dogapi', minConfidence: 0.25, maxLatency: 100, correct: true, version: null, unused: 'x' },
        },
        { op: 'query', sql: SLOW_SQL },
        { op: 'query', sql: 'SELECT * FROM {{nope}}' },
      ]),
      drive(endpoint, [{ op: 'query', sql: JOB_SQL, params: { status: 'succeeded' } }], { FAST_QUERY_PATH: 'DISABLED' }),
    ]);
  });
  afterAll(() => bq.stop());

  const n = TABLE_NAMES.length;
  const insertsInto = (table: string) =>
    bq.requests.filter((r) => r.path === `/bigquery/v2/projects/${PROJECT}/datasets/${DATASET}/tables/${table}/insertAll`);
  const queryRequests = (sqlPart: string) =>
    bq.requests.filter((r) => r.path === `/bigquery/v2/projects/${PROJECT}/queries` && String(r.body?.query).includes(sqlPart));

  it.each(TABLE_NAMES)('streams %s rows to tabledata.insertAll with insert ids and ISO timestamps', (table) => {
    expect(fast[TABLE_NAMES.indexOf(table)]).toEqual({ ok: true });
    const reqs = insertsInto(table).filter((r) =>
      (r.body!.rows as Array<{ json: Record<string, unknown> }>).every((x) => x.json.feedback_id !== REFUSED_ID),
    );
    expect(reqs).toHaveLength(1);
    const [req] = reqs;
    expect(req.method).toBe('POST');
    expect(req.headers.authorization).toBeUndefined();
    const rows = req.body!.rows as Array<{ insertId: string; json: Record<string, unknown> }>;
    expect(rows).toHaveLength(2);
    // Distinct insert ids let BigQuery drop duplicates when a request is retried.
    expect(rows[0].insertId).toMatch(/^[0-9a-f-]{36}$/);
    expect(rows[0].insertId).not.toBe(rows[1].insertId);
    const sample = SAMPLE_ROWS[table] as Record<string, unknown>;
    expect(rows[0].json).toEqual({ ...sample, ts: (sample.ts as Date).toISOString() });
    expect(rows[1].json.ts).toBe(later.toISOString());
  });

  it('validates before sending: a bad row never reaches BigQuery; an empty batch sends nothing', () => {
    const bad = fast[n];
    expect(bad).toMatchObject({ ok: false, name: 'RowValidationError' });
    expect(bad.error).toMatch(/invalid row 0 for table feedback: column correct \(BOOL, required\) got 1/);
    expect(fast[n + 2]).toEqual({ ok: true });
    // feedback got exactly: the sample batch, and the refused batch (plus the client's retries of it).
    const feedbackBatches = insertsInto('feedback').map((r) =>
      (r.body!.rows as Array<{ json: Record<string, unknown> }>).map((x) => x.json.correct),
    );
    expect(feedbackBatches.every((b) => b.length === 2 && b.every((c) => c === false))).toBe(true);
  });

  it('reports insertAll row errors naming the table, the row and the reason', () => {
    expect(fast[n + 1]).toEqual({
      ok: false,
      name: 'Error',
      error: `BigQuery refused rows for ${PROJECT}.${DATASET}.feedback: row 1: invalid: no such field: colour.`,
    });
    // Retries of the refused batch reuse its insert ids, so BigQuery could de-duplicate them.
    const refused = insertsInto('feedback').filter((r) =>
      (r.body!.rows as Array<{ json: Record<string, unknown> }>).some((x) => x.json.feedback_id === REFUSED_ID),
    );
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(new Set(refused.map((r) => (r.body!.rows as Array<{ insertId: string }>).map((x) => x.insertId).join())).size).toBe(1);
  });

  it('queries through jobs.query with qualified tables, named typed parameters, standard SQL and decoded results', () => {
    expect(fast[n + 3]).toEqual({
      ok: true,
      rows: [
        { ts: '2026-11-23T10:00:00.123Z', label: 'beagle', n: 3, acc: 0.5, correct: true, model_version: null },
        { ts: '2026-11-23T11:00:00.000Z', label: 'pug', n: 1, acc: 1, correct: false, model_version: 'v2' },
      ],
    });
    const reqs = queryRequests('prediction_events');
    expect(reqs).toHaveLength(1);
    const [req] = reqs;
    expect(req.method).toBe('POST');
    const body = req.body!;
    expect(body.query).toBe(
      `SELECT ts, true_label AS label, COUNT(*) AS n FROM \`${PROJECT}.${DATASET}.prediction_events\` p ` +
        `JOIN \`${PROJECT}.${DATASET}.feedback\` f USING (prediction_id) ` +
        'WHERE p.source = @source AND p.confidence > @minConfidence AND p.latency_ms < @maxLatency AND p.correct = @correct AND p.model_version = @version',
    );
    expect(body).toMatchObject({ useLegacySql: false, location: 'EU', parameterMode: 'named' });
    // Only parameters the SQL uses are sent; null gets an explicit type (BigQuery cannot infer one).
    expect(body.queryParameters).toEqual([
      { name: 'source', parameterType: { type: 'STRING' }, parameterValue: { value: 'dogapi' } },
      { name: 'minConfidence', parameterType: { type: 'FLOAT64' }, parameterValue: { value: 0.25 } },
      { name: 'maxLatency', parameterType: { type: 'INT64' }, parameterValue: { value: 100 } },
      { name: 'correct', parameterType: { type: 'BOOL' }, parameterValue: { value: true } },
      { name: 'version', parameterType: { type: 'STRING' }, parameterValue: { value: null } },
    ]);
  });

  it('polls getQueryResults when jobs.query answers before the job is complete', () => {
    expect(fast[n + 4]).toEqual({ ok: true, rows: [{ n: 42 }] });
    const [q] = queryRequests('model_events');
    expect(q.body!.query).toBe(`SELECT COUNT(*) AS n FROM \`${PROJECT}.${DATASET}.model_events\``);
    const polls = bq.requests.filter((r) => r.method === 'GET' && /\/queries\/job_\d+$/.test(r.path));
    expect(polls.length).toBeGreaterThanOrEqual(1);
    expect(polls.some((p) => p.query.location === 'EU')).toBe(true);
  });

  it('runs as a query job (jobs.insert + getQueryResults) when the fast path is off', () => {
    expect(jobs).toEqual([{ ok: true, rows: [{ ts: '2026-01-02T03:04:05.678Z' }] }]);
    const inserts = bq.requests.filter((r) => r.method === 'POST' && r.path === `/bigquery/v2/projects/${PROJECT}/jobs`);
    expect(inserts).toHaveLength(1);
    const [insert] = inserts;
    const config = (insert.body!.configuration as { query: Record<string, unknown> }).query;
    expect(config).toMatchObject({
      query: `SELECT MAX(ts) AS ts FROM \`${PROJECT}.${DATASET}.training_runs\` WHERE status = @status`,
      useLegacySql: false,
      parameterMode: 'named',
      queryParameters: [{ name: 'status', parameterType: { type: 'STRING' }, parameterValue: { value: 'succeeded' } }],
    });
    const ref = insert.body!.jobReference as { jobId: string; location?: string };
    expect(ref.location).toBe('EU');
    expect(bq.requests.some((r) => r.method === 'GET' && r.path === `/bigquery/v2/projects/${PROJECT}/queries/${ref.jobId}`)).toBe(true);
  });

  it('refuses unknown tables before sending anything', () => {
    expect(fast[n + 5].ok).toBe(false);
    expect(fast[n + 5].error).toMatch(/unknown table \{\{nope\}\}/);
    expect(bq.requests.some((r) => String(r.body?.query).includes('nope'))).toBe(false);
  });
});
