import Fastify, { FastifyInstance } from 'fastify';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { spillKeys } from '../../core/layout';
import { openDataLake } from '../../core/storage/data-lake';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import { registerWarehouseRoutes } from '../../core/warehouse/http-warehouse';
import { ServiceProcess, startServiceProcess } from './fixtures/process';
import { bytesBody, eventually, tempRoot } from './fixtures/service';
import { buildTestModel, photosOf, REPO_ROOT } from './fixtures/test-model';

/**
 * The real process with its warehouse failing (issue 14, item 6). Reproduced before: with
 * the warehouse down, uploads were answered and stored, then `kill -9` lost every row
 * (they were only in memory), and SIGTERM waited ~40 s for the warehouse before logging
 * the rows. Now rows are in the object store before the answer (written ahead, even while
 * the warehouse looks healthy), a restarted service writes them once, and SIGTERM spills
 * within its budget.
 */
describe('warehouse rows when the warehouse fails', () => {
  const TOKEN = 'crash-test-token-0123456789abcdef';
  let root: string;
  let owner: DuckDbWarehouse;
  let hub: FastifyInstance;
  let hubUrl: string;
  /** 'up': inserts work; 'down': 503; 'hang': never answered. */
  let mode: 'up' | 'down' | 'hang' = 'up';
  const children: ServiceProcess[] = [];

  beforeAll(async () => {
    root = await tempRoot('cv-crash-');
    const lake = openDataLake({
      dataRoot: root,
      storage: { backend: 'local', buckets: { raw: 'raw', datasets: 'datasets', models: 'models', pipeline: 'pipeline' } },
    });
    await buildTestModel({ store: lake.models });
    owner = await DuckDbWarehouse.open(path.join(root, 'owner.duckdb'));
    hub = Fastify();
    hub.addHook('onRequest', async (_req, reply) => {
      if (mode === 'down') return reply.code(503).send({ message: 'warehouse down' });
      if (mode === 'hang') await new Promise(() => undefined);
    });
    await registerWarehouseRoutes(hub, owner, { token: TOKEN, queries: {} });
    hubUrl = await hub.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    hub.server.closeAllConnections();
    await hub.close();
    await owner.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  const start = async (env: Record<string, string> = {}) => {
    const svc = await startServiceProcess({
      entry: path.join(REPO_ROOT, 'workloads/inference/main.ts'),
      nodeArgs: ['--require', 'tsx/cjs'],
      dataRoot: root,
      env: {
        CV_WAREHOUSE_BACKEND: 'http',
        CV_WAREHOUSE_URL: hubUrl,
        CV_WAREHOUSE_TOKEN: TOKEN,
        CV_INFERENCE_WAREHOUSE_FLUSH_MS: '100',
        CV_INFERENCE_RATE_LIMIT_PER_MINUTE: '0',
        ...env,
      },
    });
    children.push(svc);
    return svc;
  };
  const uploads = async (svc: ServiceProcess, n: number): Promise<string[]> => {
    const photos = await Promise.all((await photosOf('pug', n)).map((f) => fs.readFile(f)));
    const answers = await Promise.all(
      photos.map((p) => fetch(`${svc.url}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: bytesBody(p) })),
    );
    expect(answers.map((a) => a.status)).toEqual(photos.map(() => 200));
    return Promise.all(answers.map(async (a) => (await a.json()).predictionId as string));
  };
  const rowsPerId = async (ids: string[]) => {
    const rows = await owner.query('SELECT prediction_id, COUNT(*) AS n FROM {{prediction_events}} GROUP BY prediction_id');
    const byId = new Map(rows.map((r) => [String(r.prediction_id), Number(r.n)]));
    return ids.map((id) => byId.get(id) ?? 0);
  };
  /** Rows per id once every id has at least one (or the timeout). */
  const rowsOnceWritten = (ids: string[], timeoutMs: number) =>
    eventually(async () => {
      const c = await rowsPerId(ids);
      return c.every((n) => n > 0) ? c : undefined;
    }, timeoutMs);

  test('kill -9 with the warehouse down loses no row; the next instance writes each once', async () => {
    const first = await start();
    mode = 'down';
    const answered = [...(await uploads(first, 10)), ...(await uploads(first, 10))];
    first.child.kill('SIGKILL');
    await first.exited;
    expect(await rowsPerId(answered)).toEqual(answered.map(() => 0));

    mode = 'up';
    await start();
    const counts = await rowsOnceWritten(answered, 30_000);
    expect(counts).toEqual(answered.map(() => 1));
  });

  test('SIGTERM with the warehouse hanging exits on its own, with every row spilled for the next instance', async () => {
    const svc = children[children.length - 1];
    const answered = await uploads(svc, 8);
    mode = 'hang';
    const more = await uploads(svc, 8);
    svc.child.kill('SIGTERM');
    expect(await svc.exited).toBe(0);
    const stopped = svc.lines.map((l) => l.trim()).find((l) => l.includes('"inference_stopped"'));
    expect(stopped).toBeDefined();
    hub.server.closeAllConnections();
    mode = 'up';
    const lake = openDataLake({
      dataRoot: root,
      storage: { backend: 'local', buckets: { raw: 'raw', datasets: 'datasets', models: 'models', pipeline: 'pipeline' } },
    });
    expect((await lake.raw.list(spillKeys.batchesPrefix)).length).toBeGreaterThan(0);
    await start();
    const all = [...answered, ...more];
    const counts = await rowsOnceWritten(all, 30_000);
    expect(counts).toEqual(all.map(() => 1));
  });

  test('kill -9 before the first flush, the warehouse healthy: every answered row is written once by the next instance', async () => {
    // Before write-ahead these rows were in memory only until the flush: all 10 were lost.
    mode = 'up';
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    const first = await start({ CV_INFERENCE_WAREHOUSE_FLUSH_MS: '600000' });
    const answered = await uploads(first, 10);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(await rowsPerId(answered)).toEqual(answered.map(() => 0));
    await start();
    const counts = await rowsOnceWritten(answered, 40_000);
    expect(counts).toEqual(answered.map(() => 1));
  });
});
