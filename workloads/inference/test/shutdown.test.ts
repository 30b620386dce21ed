import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { openDataLake } from '../../core/storage/data-lake';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import { loggedPredictionIds, ServiceProcess, startServiceProcess } from './fixtures/process';
import { bytesBody, tempRoot } from './fixtures/service';
import { buildTestModel, photosOf, REPO_ROOT } from './fixtures/test-model';

/**
 * The real process (`main.ts`) under SIGTERM: requests in flight when the signal arrives
 * are answered, and every prediction they made is in DuckDB afterwards. Warehouse flushes
 * are set to once a minute, so the rows can only have been written by the shutdown flush.
 */
describe('graceful shutdown', () => {
  let root: string;
  let svc: ServiceProcess | undefined;
  afterAll(async () => {
    if (svc && svc.child.exitCode === null) svc.child.kill('SIGKILL');
    await fs.rm(root, { recursive: true, force: true });
  });

  test('SIGTERM drains in-flight requests and flushes every prediction row', async () => {
    root = await tempRoot();
    await buildTestModel({
      store: openDataLake({
        dataRoot: root,
        storage: { backend: 'local', buckets: { raw: 'raw', datasets: 'datasets', models: 'models', pipeline: 'pipeline' } },
      }).models,
    });
    svc = await startServiceProcess({
      entry: path.join(REPO_ROOT, 'workloads/inference/main.ts'),
      nodeArgs: ['--require', 'tsx/cjs'],
      dataRoot: root,
      env: { CV_INFERENCE_WAREHOUSE_FLUSH_MS: '60000' },
    });
    const { url } = svc;

    const photos = await Promise.all((await photosOf('beagle', 8)).map((f) => fs.readFile(f)));
    const requests = [
      ...photos.map((p) => fetch(`${url}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: bytesBody(p) })),
      ...Array.from({ length: 8 }, () => fetch(`${url}/predict`, { headers: svc!.internal.headers() })),
    ].map((p) => p.then(async (r) => ({ status: r.status, body: await r.json() })));
    // Let the requests reach the server, then signal while they are in flight.
    await new Promise((r) => setTimeout(r, 30));
    svc.child.kill('SIGTERM');
    const answers = await Promise.allSettled(requests);
    expect(await svc.exited).toBe(0);

    const ok = answers.flatMap((a) => (a.status === 'fulfilled' && a.value.status === 200 ? [a.value.body.predictionId as string] : []));
    expect(ok.length).toBeGreaterThan(0);
    expect(svc.lines.join('\n')).toMatch(/SIGTERM: draining in-flight requests/);
    // Every request was answered: no connection needed the grace period's forced close
    // (before, idle keep-alive connections held every shutdown to inference.shutdownGraceMs).
    expect(svc.lines.join('\n')).not.toMatch(/did not finish within/);

    const warehouse = await DuckDbWarehouse.open(path.join(root, 'warehouse.duckdb'));
    try {
      const stored = new Set((await warehouse.query('SELECT prediction_id FROM {{prediction_events}}')).map((r) => r.prediction_id));
      expect(ok.filter((id) => !stored.has(id))).toEqual([]);
      // Every prediction the service logged is a row too.
      const logged = loggedPredictionIds(svc.lines);
      expect(logged.length).toBeGreaterThanOrEqual(ok.length);
      expect(logged.filter((id) => !stored.has(id))).toEqual([]);
    } finally {
      await warehouse.close();
    }
  });
});
