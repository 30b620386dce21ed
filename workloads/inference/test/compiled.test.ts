import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { openDataLake } from '../../core/storage/data-lake';
import { buildWorkloads, builtFile } from '../../../scripts/build';
import { ENTRY_POINTS } from '../../core/entry-points';
import { startServiceProcess } from './fixtures/process';
import { bytesBody, tempRoot } from './fixtures/service';
import { buildTestModel, photosOf, REPO_ROOT } from './fixtures/test-model';

const maybe = process.env.CV_E2E ? describe : describe.skip;

/**
 * The container runs compiled JavaScript: the worker threads must start without tsx there.
 * Builds the workloads as the image's build stage does (`npm run build`) and runs it (slow: behind CV_E2E).
 */
maybe('compiled JavaScript', () => {
  const outDir = path.join(REPO_ROOT, 'dist', `inference-compiled-test-${process.pid}`);
  let root: string;
  afterAll(async () => {
    await fs.rm(outDir, { recursive: true, force: true });
    if (root) await fs.rm(root, { recursive: true, force: true });
  });

  test('main.js serves predictions from worker.js threads', async () => {
    await buildWorkloads(outDir);
    const entry = builtFile(outDir, ENTRY_POINTS.inferenceService);
    await fs.access(path.join(outDir, 'workloads/inference/models/worker.js'));

    root = await tempRoot();
    await buildTestModel({
      store: openDataLake({
        dataRoot: root,
        storage: { backend: 'local', buckets: { raw: 'raw', datasets: 'datasets', models: 'models', pipeline: 'pipeline' } },
      }).models,
    });
    const svc = await startServiceProcess({ entry, dataRoot: root, env: { CV_INFERENCE_WORKERS: '2' } });
    try {
      const [photo] = await photosOf('pug', 1);
      const res = await fetch(`${svc.url}/classify`, {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: bytesBody(await fs.readFile(photo)),
      });
      expect(res.status).toBe(200);
      expect(await (await fetch(`${svc.url}/`)).text()).toContain('Creature Vision');
      const ready = await (await fetch(`${svc.url}/status`, { headers: svc.internal.headers() })).json();
      expect(ready).toMatchObject({ ready: true, workers: 2 });
      expect(svc.lines.join('\n')).not.toMatch(/tsx/);
    } finally {
      svc.child.kill('SIGTERM');
      expect(await svc.exited).toBe(0);
    }
  }, 240_000);
});
