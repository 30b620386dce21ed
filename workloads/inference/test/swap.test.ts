import { bytesBody, eventually, startTestService, TestService } from './fixtures/service';
import { buildTestModel, photosOf, pointTo } from './fixtures/test-model';
import { promises as fs } from 'node:fs';

/**
 * Zero-downtime swaps: while 6 clients upload continuously to a 2-worker pool, the
 * production pointer moves; every request succeeds, answers come from the old model until
 * the new one is loaded and warmed in every worker, then from the new one only.
 */
describe('model swaps under load', () => {
  let svc: TestService;
  let v1: string;
  let v2: string;

  beforeAll(async () => {
    svc = await startTestService({
      overrides: { inference: { workers: 2, pointerPollMs: 100 } },
      beforeStart: async (lake) => {
        v1 = (await buildTestModel({ store: lake.models, seed: 1 })).version;
        v2 = (await buildTestModel({ store: lake.models, seed: 2, epochs: 3, version: `${v1}-b`, pointer: null })).version;
      },
    });
    await svc.app.inference.models.whenReady();
  });
  afterAll(async () => svc?.close());

  test('a pointer move under concurrent load fails no request', async () => {
    const photos = await Promise.all((await photosOf('pug', 6)).map((f) => fs.readFile(f)));
    const seen: Array<{ at: number; version: string }> = [];
    const failures: string[] = [];
    let running = true;
    const client = async (i: number) => {
      while (running) {
        const res = await fetch(`${svc.url}/classify`, {
          method: 'POST',
          headers: { 'content-type': 'image/jpeg' },
          body: bytesBody(photos[i]),
        }).catch((err: Error) => ({ status: 0, json: async () => ({ message: err.message }) }));
        const body = await res.json();
        if (res.status !== 200) failures.push(`${res.status} ${body.message}`);
        else seen.push({ at: Date.now(), version: body.modelVersion });
      }
    };
    const clients = Array.from({ length: 6 }, (_, i) => client(i));
    await eventually(async () => seen.length >= 12);
    const movedAt = Date.now();
    await pointTo(svc.lake.models, 'production', v2);
    await eventually(async () => seen.filter((s) => s.version === v2).length >= 12, 30_000);
    running = false;
    await Promise.all(clients);

    expect(failures).toEqual([]);
    expect(seen.some((s) => s.version === v1 && s.at >= movedAt - 1)).toBe(true); // v1 kept serving while v2 loaded
    const firstV2 = Math.min(...seen.filter((s) => s.version === v2).map((s) => s.at));
    // After the switch, only v2 answers (requests that STARTED before it may finish on v1).
    const lateV1 = seen.filter((s) => s.version === v1 && s.at > firstV2 + 2000);
    expect(lateV1).toEqual([]);
    const swap = svc.logs.find((l) => l.event === 'model_swap' && l.champion === v2);
    expect(swap).toMatchObject({ previous_champion: v1 });
    await eventually(async () => svc.logs.some((l) => l.event === 'model_unloaded' && l.model_version === v1));
    expect(svc.app.inference.pool.stats.maxBatchSeen).toBeGreaterThan(1); // concurrent requests were batched
  });

  test('a challenger predicts in shadow: both are logged with their role, only the champion answers', async () => {
    await pointTo(svc.lake.models, 'challenger', v1);
    await eventually(async () => {
      const r = await (await fetch(`${svc.url}/status`, { headers: svc.internal.headers() })).json();
      return r.challenger === v1;
    });
    const [photo] = await photosOf('samoyed', 1);
    const res = await fetch(`${svc.url}/classify`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: bytesBody(await fs.readFile(photo)),
    });
    const body = await res.json();
    expect(body.modelVersion).toBe(v2);
    const rows = await eventually(async () => {
      const r = await svc.warehouse.query('SELECT role, model_version FROM {{prediction_events}} WHERE prediction_id = @id ORDER BY role', {
        id: body.predictionId,
      });
      return r.length === 2 ? r : undefined;
    });
    expect(rows).toEqual([
      { role: 'challenger', model_version: v1 },
      { role: 'champion', model_version: v2 },
    ]);
    const dog = await (await fetch(`${svc.url}/predict`, { headers: svc.internal.headers() })).json();
    expect(dog.shadow).toEqual([expect.objectContaining({ role: 'challenger', modelVersion: v1 })]);
  });
});
