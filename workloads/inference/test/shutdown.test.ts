import { ChildProcess, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { openDataLake } from '../../core/storage/data-lake';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import { bytesBody, eventually, tempRoot } from './fixtures/service';
import { buildTestModel, DOGS_DIR, photosOf, REPO_ROOT } from './fixtures/test-model';

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * The real process (`main.ts`) under SIGTERM: requests in flight when the signal arrives
 * are answered, and every prediction they made is in DuckDB afterwards. Warehouse flushes
 * are set to once a minute, so the rows can only have been written by the shutdown flush.
 */
describe('graceful shutdown', () => {
  let root: string;
  let child: ChildProcess | undefined;
  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await fs.rm(root, { recursive: true, force: true });
  });

  test('SIGTERM drains in-flight requests and flushes every prediction row', async () => {
    root = await tempRoot();
    const lake = openDataLake({
      dataRoot: root,
      storage: { backend: 'local', buckets: { raw: 'raw', datasets: 'datasets', models: 'models', pipeline: 'pipeline' } },
    });
    await buildTestModel({ store: lake.models });
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      CV_DATA_ROOT: root,
      CV_INFERENCE_PORT: String(port),
      CV_INFERENCE_WORKERS: '1',
      CV_INFERENCE_WAREHOUSE_FLUSH_MS: '60000',
      CV_DOG_API_DATASET_DIR: DOGS_DIR,
    };
    const lines: string[] = [];
    child = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(REPO_ROOT, 'workloads/inference/main.ts')], { cwd: REPO_ROOT, env });
    child.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
    child.stderr!.on('data', (d: Buffer) => lines.push(d.toString()));
    const exited = new Promise<number | null>((r) => child!.on('exit', (code) => r(code)));
    const url = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200, 40_000);

    const photos = await Promise.all((await photosOf('beagle', 8)).map((f) => fs.readFile(f)));
    const requests = [
      ...photos.map((p) => fetch(`${url}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: bytesBody(p) })),
      ...Array.from({ length: 8 }, () => fetch(`${url}/predict`)),
    ].map((p) => p.then(async (r) => ({ status: r.status, body: await r.json() })));
    // Let the requests reach the server, then signal while they are in flight.
    await new Promise((r) => setTimeout(r, 30));
    child.kill('SIGTERM');
    const answers = await Promise.allSettled(requests);
    expect(await exited).toBe(0);

    const ok = answers.flatMap((a) => (a.status === 'fulfilled' && a.value.status === 200 ? [a.value.body.predictionId as string] : []));
    expect(ok.length).toBeGreaterThan(0);
    const log = lines.join('\n');
    expect(log).toMatch(/SIGTERM: draining in-flight requests/);

    const warehouse = await DuckDbWarehouse.open(path.join(root, 'warehouse.duckdb'));
    try {
      const rows = await warehouse.query('SELECT prediction_id FROM {{prediction_events}}');
      const stored = new Set(rows.map((r) => r.prediction_id));
      expect(ok.filter((id) => !stored.has(id))).toEqual([]);
      // Every prediction the service logged is a row too.
      const logged = lines.flatMap((l) => {
        try {
          const j = JSON.parse(l);
          return j.event === 'prediction' ? [j.prediction_id as string] : [];
        } catch {
          return [];
        }
      });
      expect(logged.length).toBeGreaterThanOrEqual(ok.length);
      expect(logged.filter((id) => !stored.has(id))).toEqual([]);
    } finally {
      await warehouse.close();
    }
  });
});
