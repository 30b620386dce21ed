import { rawKeys } from '../../core/layout';
import { parseRawLabel } from '../../core/dataset/raw-label';
import { bytesBody, eventually, startTestService, TestService } from './fixtures/service';
import { realJpeg } from './fixtures/images';

/** A new stack: the registry has no model yet. */
describe('inference service without a model', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => svc?.close());

  test('/readyz is false, /status says why; /healthz is fine', async () => {
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    const res = await fetch(`${svc.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ready: false });
    const status = await fetch(`${svc.url}/status`, { headers: svc.internal.headers() });
    expect(await status.json()).toMatchObject({ ready: false, reason: expect.stringMatching(/no model has been promoted/) });
  });

  test('GET /predict still ingests the labelled photo and says plainly that no prediction was made', async () => {
    const res = await fetch(`${svc.url}/predict`, { headers: svc.internal.headers() });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.prediction).toBeNull();
    expect(body.reason).toMatch(/no prediction was made/);
    expect(body.modelVersion).toBeNull();
    const label = parseRawLabel(await svc.lake.raw.read(rawKeys.label(body.predictionId)));
    expect(label).toMatchObject({ label: body.trueLabel, source: 'dogapi', predictedLabel: null, correct: null });
    expect(await svc.lake.raw.stat(label.imageKey)).toBeDefined();
    const rows = await eventually(async () => {
      const r = await svc.warehouse.query('SELECT * FROM {{prediction_events}} WHERE prediction_id = @id', { id: body.predictionId });
      return r.length ? r : undefined;
    });
    expect(rows[0]).toMatchObject({ role: 'none', predicted_label: null, model_version: null, true_label: body.trueLabel });
  });

  test('POST /classify answers 503 with the reason and stores nothing', async () => {
    const before = (await svc.lake.raw.list(rawKeys.uploadsPrefix)).length;
    const res = await fetch(`${svc.url}/classify`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: bytesBody(await realJpeg()),
    });
    expect(res.status).toBe(503);
    expect((await res.json()).message).toMatch(/no model has been promoted/);
    expect((await svc.lake.raw.list(rawKeys.uploadsPrefix)).length).toBe(before);
  });
});
