import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { DuckDbWarehouse } from '../warehouse/duckdb-warehouse';
import { openWarehouse } from '../warehouse/open-warehouse';
import { RowValidationError } from '../warehouse/schema-dsl';
import { Row, TABLE_NAMES, tableDef, TableName } from '../warehouse/tables';
import { loadConfig } from '../config/load';
import { expectedBack, SAMPLE_ROWS } from './sample-rows';

describe('DuckDbWarehouse on a temp file', () => {
  let dir: string;
  let file: string;
  let wh: DuckDbWarehouse;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-wh-'));
    file = path.join(dir, 'nested', 'warehouse.duckdb');
    wh = await DuckDbWarehouse.open(file);
  });
  afterAll(async () => {
    await wh.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('has a sample row for every table', () => {
    expect(Object.keys(SAMPLE_ROWS).sort()).toEqual([...TABLE_NAMES].sort());
  });

  it.each(TABLE_NAMES)('round-trips a full row and a row with nulls through %s', async (table) => {
    const full = SAMPLE_ROWS[table] as Record<string, unknown>;
    await wh.insert(table, [full] as Row<typeof table>[]);
    const back = await wh.query(`SELECT * FROM {{${table}}}`);
    expect(back).toEqual([expectedBack(full)]);
    expect(typeof back[0].ts).toBe('string');

    // Nullable columns may be omitted or null; they come back as null.
    const sparse = Object.fromEntries(Object.entries(full).filter(([k]) => !isNullable(table, k)));
    const nullable = Object.keys(full).filter((k) => isNullable(table, k));
    await wh.insert(table, [{ ...sparse, ts: new Date('2026-11-24T00:00:00Z') }] as Row<typeof table>[]);
    const [later] = await wh.query(`SELECT * FROM {{${table}}} WHERE ts > CAST(@since AS TIMESTAMP)`, { since: '2026-11-23T23:00:00Z' });
    for (const k of nullable) expect(later[k]).toBeNull();
    expect(later.ts).toBe('2026-11-24T00:00:00.000Z');
  });

  it('adds columns a table gained since an existing file was created (nullable, null in old rows)', async () => {
    const old = path.join(dir, 'old.duckdb');
    const first = await DuckDbWarehouse.open(old);
    await first.query('ALTER TABLE {{prediction_events}} DROP COLUMN open_set');
    await first.query('ALTER TABLE {{prediction_events}} DROP COLUMN dog_probability');
    const { open_set: _o, dog_probability: _d, ...before } = SAMPLE_ROWS.prediction_events;
    await first.query(
      `INSERT INTO {{prediction_events}} (${Object.keys(before).join(', ')}) VALUES (${Object.keys(before)
        .map((k) => `@${k}`)
        .join(', ')})`,
      Object.fromEntries(Object.entries(before).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v])),
    );
    await first.close();
    const reopened = await DuckDbWarehouse.open(old);
    await reopened.insert('prediction_events', [{ ...SAMPLE_ROWS.prediction_events, prediction_id: 'new' }]);
    const rows = await reopened.query('SELECT prediction_id, open_set FROM {{prediction_events}} ORDER BY prediction_id');
    expect(rows).toEqual([
      { prediction_id: 'new', open_set: 'breed' },
      { prediction_id: 'pred-1', open_set: null },
    ]);
    await reopened.close();
  });

  it('answers parameterised aggregate queries with plain numbers', async () => {
    await wh.insert('prediction_events', [
      { ...SAMPLE_ROWS.prediction_events, prediction_id: 'p2', correct: false, predicted_label: 'pug', confidence: 0.5 },
      { ...SAMPLE_ROWS.prediction_events, prediction_id: 'p3', role: 'challenger', model_version: 'v9' },
    ]);
    const rows = await wh.query(
      `SELECT role, COUNT(*) AS n, AVG(CASE WHEN correct THEN 1.0 ELSE 0.0 END) AS acc
         FROM {{prediction_events}} WHERE source = @source AND true_label = @label GROUP BY role ORDER BY role`,
      { source: 'dogapi', label: 'beagle', unused: 1 },
    );
    expect(rows).toEqual([
      { role: 'challenger', n: 1, acc: 1 },
      // The sample row plus p2; the sparse row from the round trip has no true label.
      { role: 'champion', n: 2, acc: 0.5 },
    ]);
    await expect(wh.query('SELECT * FROM {{prediction_events}} WHERE source = @missing', {})).rejects.toThrow(
      'SQL parameter @missing has no value',
    );
    await expect(wh.query('SELECT * FROM {{no_such_table}}')).rejects.toThrow(
      /unknown table \{\{no_such_table\}\} in SQL; tables are prediction_events/,
    );
  });

  describe('rejects rows that break the schema, naming table, row, column and value', () => {
    const base = SAMPLE_ROWS.prediction_events as Record<string, unknown>;
    const reject = async (row: Record<string, unknown>, pattern: RegExp, index = 0, rows = [row]) => {
      const err = await wh.insert('prediction_events', rows as Row<'prediction_events'>[]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RowValidationError);
      expect((err as RowValidationError).index).toBe(index);
      expect((err as Error).message).toMatch(pattern);
    };

    it('wrong type', () =>
      reject(
        { ...base, latency_ms: '31' },
        /invalid row 0 for table prediction_events: column latency_ms \(FLOAT64, required\) got "31": .*number/i,
      ));
    it('missing required column', () => reject({ ...base, request_id: undefined }, /column request_id \(STRING, required\) got nothing/));
    it('null in a required column', () => reject({ ...base, role: null }, /column role \(STRING, required\) got null/));
    it('unknown column', () => reject({ ...base, colour: 'brown' }, /unknown column colour; columns are ts, request_id/));
    it('bad enum value', () =>
      reject({ ...base, role: 'boss' }, /column role \(STRING, required\) got "boss": .*"champion"\|"challenger"\|"none"/));
    it('string instead of a timestamp, and an invalid date', async () => {
      await reject({ ...base, ts: '2026-11-23T10:00:00Z' }, /column ts \(TIMESTAMP, required\) got "2026-11-23T10:00:00Z"/);
      await reject({ ...base, ts: new Date('nope') }, /column ts \(TIMESTAMP, required\) got Date\(invalid\)/);
    });
    it('non-integer in an INT64 column and a JSON column that is not JSON', async () => {
      await expect(wh.insert('class_distribution', [{ ...SAMPLE_ROWS.class_distribution, count: 1.5 }])).rejects.toThrow(
        /column count \(INT64, required\) got 1.5/,
      );
      await reject({ ...base, top_k: '{not json' }, /column top_k \(STRING, required\) got "\{not json": must be a JSON document/);
    });
    it('nothing is written when any row of a batch is bad', async () => {
      const before = (await wh.query('SELECT COUNT(*) AS n FROM {{prediction_events}}'))[0].n;
      await reject({ ...base, source: 'camera' }, /row 1 .*column source/, 1, [
        { ...base, prediction_id: 'ok' },
        { ...base, source: 'camera' },
      ]);
      expect((await wh.query('SELECT COUNT(*) AS n FROM {{prediction_events}}'))[0].n).toBe(before);
    });
    it('unknown table', async () => {
      await expect(wh.insert('nope' as TableName, [])).rejects.toThrow(/unknown table "nope"; tables are prediction_events/);
    });
  });

  it('keeps rows across close and reopen of the file', async () => {
    const n = (await wh.query('SELECT COUNT(*) AS n FROM {{feedback}}'))[0].n;
    await wh.close();
    wh = await DuckDbWarehouse.open(file);
    expect((await wh.query('SELECT COUNT(*) AS n FROM {{feedback}}'))[0].n).toBe(n);
  });
});

describe('a DuckDB file from an earlier release', () => {
  it('gets the nullable columns added since, and takes rows that fill them', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-wh-old-'));
    const file = path.join(dir, 'warehouse.duckdb');
    try {
      const { DuckDBInstance } = await import('@duckdb/node-api');
      const old = await DuckDBInstance.create(file);
      const conn = await old.connect();
      // model_events as it was created before the gate's evidence columns existed.
      await conn.run(
        'CREATE TABLE "model_events" ("ts" TIMESTAMPTZ NOT NULL, "event_id" VARCHAR NOT NULL, "event" VARCHAR NOT NULL, ' +
          '"model_version" VARCHAR NOT NULL, "previous_version" VARCHAR, "dataset_version" VARCHAR, "reason" VARCHAR NOT NULL, ' +
          '"challenger_metrics" VARCHAR, "champion_metrics" VARCHAR, "run_id" VARCHAR)',
      );
      conn.closeSync();
      old.closeSync();
      const wh = await DuckDbWarehouse.open(file);
      try {
        await wh.insert('model_events', [{ ...SAMPLE_ROWS.model_events, effect: 0.04, eval_n: 120 }]);
        expect(await wh.query('SELECT effect, eval_n, p_value FROM {{model_events}}')).toEqual([
          { effect: 0.04, eval_n: 120, p_value: 0.004 },
        ]);
      } finally {
        await wh.close();
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('openWarehouse', () => {
  it('opens DuckDB under the data root by default and explains missing keys for other backends', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-open-'));
    try {
      const wh = await openWarehouse(loadConfig({ env: { CV_DATA_ROOT: root } }));
      await wh.insert('feedback', [SAMPLE_ROWS.feedback]);
      await wh.close();
      await expect(fs.stat(path.join(root, 'warehouse.duckdb'))).resolves.toBeTruthy();
      await expect(openWarehouse(loadConfig({ env: { CV_WAREHOUSE_BACKEND: 'http' } }))).rejects.toThrow(
        'config key warehouse.url (env CV_WAREHOUSE_URL) is required when warehouse.backend is "http"',
      );
      await expect(openWarehouse(loadConfig({ env: { CV_WAREHOUSE_BACKEND: 'bigquery' } }))).rejects.toThrow(
        /warehouse.projectId \(env CV_WAREHOUSE_PROJECT_ID\) is required/,
      );
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});

function isNullable(table: TableName, column: string): boolean {
  return tableDef(table).fields[column].mode === 'NULLABLE';
}

describe('DuckDbWarehouse time zone', () => {
  it('works in UTC like BigQuery, whatever the machine time zone', async () => {
    const script = path.join(__dirname, 'fixtures', 'duckdb-timezone.ts');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, TZ: 'America/New_York' },
    });
    // 00:30 UTC on the 24th is still the 23rd in New York: a local-time engine would say 2026-11-23 and miss the row.
    expect(JSON.parse(stdout)).toEqual({ tz: 'America/New_York', rows: [{ day: '2026-11-24', n: 1 }] });
  });
});
