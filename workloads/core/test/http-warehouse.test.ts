import Fastify from 'fastify';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DuckDbWarehouse } from '../warehouse/duckdb-warehouse';
import { HttpWarehouse, NamedQueries, registerWarehouseRoutes } from '../warehouse/http-warehouse';
import { openWarehouse } from '../warehouse/open-warehouse';
import { Row, TABLE_NAMES } from '../warehouse/tables';
import { loadConfig } from '../config/load';
import { closedPort } from './net';
import { expectedBack, SAMPLE_ROWS } from './sample-rows';

const TOKEN = 'test-token-0123456789abcdef';
const roundTrip = (table: string) => `SELECT * FROM {{${table}}} WHERE ts = CAST(@ts AS TIMESTAMP)`;
/** The statements this test's owner serves. */
const QUERIES: NamedQueries = {
  ...Object.fromEntries(TABLE_NAMES.map((t) => [`round-trip:${t}`, roundTrip(t)])),
  feedbackLabels: 'SELECT label FROM {{feedback}}',
  misspelt: 'SELEKT 1',
};

/** A DuckDB owner in a temporary folder serving its routes on a real fastify (this run's token, QUERIES). */
async function startOwner(): Promise<{ dir: string; owner: DuckDbWarehouse; url: string; close(): Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-httpwh-'));
  const owner = await DuckDbWarehouse.open(path.join(dir, 'warehouse.duckdb'));
  const app = Fastify();
  await registerWarehouseRoutes(app, owner, { token: TOKEN, queries: QUERIES });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    dir,
    owner,
    url,
    close: async () => {
      await app.close();
      await owner.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

describe('HttpWarehouse against registerWarehouseRoutes on a real fastify over DuckDB', () => {
  let owner: DuckDbWarehouse;
  let url: string;
  let client: HttpWarehouse;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ owner, url, close } = await startOwner());
    client = new HttpWarehouse(url, TOKEN);
  });
  afterAll(() => close());

  it.each(TABLE_NAMES)('round-trips %s, with timestamps crossing the wire as ISO strings', async (table) => {
    const row = SAMPLE_ROWS[table] as Record<string, unknown>;
    await client.insert(table, [row] as Row<typeof table>[]);
    expect(await client.query(roundTrip(table), { ts: (row.ts as Date).toISOString() })).toEqual([expectedBack(row)]);
    // The owner sees the same row: it is one warehouse.
    expect(await owner.query(`SELECT COUNT(*) AS n FROM {{${table}}}`)).toEqual([{ n: 1 }]);
  });

  it('works through openWarehouse with backend http', async () => {
    const wh = await openWarehouse(loadConfig({ env: { CV_WAREHOUSE_BACKEND: 'http', CV_WAREHOUSE_URL: url, CV_WAREHOUSE_TOKEN: TOKEN } }));
    expect(await wh.query('SELECT label FROM {{feedback}}')).toEqual([{ label: 'pug' }]);
  });

  it('passes validation errors through with the server message, and writes nothing', async () => {
    await expect(client.insert('feedback', [{ ...SAMPLE_ROWS.feedback, correct: 'yes' as unknown as boolean }])).rejects.toThrow(
      `warehouse at ${url} answered 400: invalid row 0 for table feedback: column correct (BOOL, required) got "yes"`,
    );
    await expect(client.insert('feedback', [{ ...SAMPLE_ROWS.feedback, colour: 'x' } as unknown as Row<'feedback'>])).rejects.toThrow(
      /answered 400: .*unknown column colour/,
    );
    expect(await owner.query('SELECT COUNT(*) AS n FROM {{feedback}}')).toEqual([{ n: 1 }]);
  });

  it('rejects unknown tables, bad SQL and malformed requests with 400', async () => {
    await expect(client.insert('bogus' as 'feedback', [])).rejects.toThrow(
      /answered 400: body\/table must be equal to one of the allowed values/,
    );
    await expect(client.query('SELEKT 1')).rejects.toThrow(/answered 400: .*syntax error/i);
    const res = await fetch(`${url}/warehouse/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: '{"sql":',
    });
    expect(res.status).toBe(400);
  });

  it('skips rows whose insert id was written before (a retried insert whose first attempt succeeded)', async () => {
    const row = { ...SAMPLE_ROWS.feedback, feedback_id: 'retried-feedback' };
    await client.insert('feedback', [row], { insertIds: ['retry-1'] });
    await client.insert('feedback', [row, { ...row, feedback_id: 'second' }], { insertIds: ['retry-1', 'retry-2'] });
    expect(
      await owner.query("SELECT feedback_id FROM {{feedback}} WHERE feedback_id IN ('retried-feedback', 'second') ORDER BY 1"),
    ).toEqual([{ feedback_id: 'retried-feedback' }, { feedback_id: 'second' }]);
    await expect(client.insert('feedback', [row], { insertIds: [] })).rejects.toThrow(/0 insert ids for 1 rows/);
  });

  it('reports an unreachable owner naming its URL', async () => {
    const port = await closedPort();
    const gone = new HttpWarehouse(`http://127.0.0.1:${port}`);
    await expect(gone.query('SELECT 1')).rejects.toThrow(
      `warehouse at http://127.0.0.1:${port} is unreachable (POST /warehouse/query): ECONNREFUSED`,
    );
  });
});

/**
 * Any local process or web page can reach 127.0.0.1 (issue 14, item 4). Reproduced before:
 * the warehouse ran whatever SQL it was sent, `read_text('/etc/...')` and `COPY ... TO` a
 * file included, without asking who sent it.
 */
describe('the warehouse owner against hostile local callers', () => {
  let dir: string;
  let owner: DuckDbWarehouse;
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => ({ dir, owner, url, close } = await startOwner()));
  afterAll(() => close());

  const post = (route: string, body: unknown, token?: string) =>
    fetch(`${url}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    });

  it("refuses callers without this run's token (401), for queries and inserts", async () => {
    for (const token of [undefined, '', 'guess', TOKEN.slice(0, -1) + 'x']) {
      expect((await post('/warehouse/query', { sql: QUERIES.feedbackLabels }, token)).status).toBe(401);
      expect((await post('/warehouse/insert', { table: 'feedback', rows: [] }, token)).status).toBe(401);
    }
  });

  it('runs named queries only: reading a file or writing one is refused (403) even with the token', async () => {
    const leak = path.join(dir, 'leak.csv');
    for (const sql of [
      "SELECT content FROM read_text('/etc/passwd')",
      `COPY (SELECT 1) TO '${leak}'`,
      `${QUERIES.feedbackLabels}; DROP TABLE {{feedback}}`,
    ]) {
      const res = await post('/warehouse/query', { sql }, TOKEN);
      expect(res.status).toBe(403);
      expect(JSON.stringify(await res.json())).not.toContain('root:');
    }
    await expect(fs.stat(leak)).rejects.toThrow();
  });

  it('opens DuckDB with file and network access off, so not even the owner can read or write files from SQL', async () => {
    await expect(owner.query("SELECT content FROM read_text('/etc/hostname')")).rejects.toThrow(/file system operations are disabled/);
    await expect(owner.query(`COPY (SELECT 1) TO '${path.join(dir, 'leak.csv')}'`)).rejects.toThrow(/file system operations are disabled/);
    await expect(owner.query('SET enable_external_access = true')).rejects.toThrow(/configuration has been locked|Cannot change/);
  });
});
