import { promises as fs } from 'node:fs';
import { parseRawLabel } from '../../core/dataset/raw-label';
import { toModelInput } from '../../core/images/normalize-image';
import { loadClassifier } from '../../core/model/classifier';
import { rawKeys } from '../../core/layout';
import { sha256, type UploadRecord } from '../records';
import { bytesBody, eventually, formWith, startTestService, TestService } from './fixtures/service';
import { buildTestModel, photosOf, TestModel } from './fixtures/test-model';

/** Every endpoint against real parts: a real model, DuckDB, local buckets, the local dog API. */
describe('inference service endpoints', () => {
  let svc: TestService;
  let model: TestModel;

  beforeAll(async () => {
    svc = await startTestService({
      beforeStart: async (lake) => {
        model = await buildTestModel({ store: lake.models });
      },
    });
    await svc.app.inference.models.whenReady();
  });
  afterAll(async () => svc?.close());

  const classify = async (bytes: Buffer, type = 'image/jpeg') =>
    fetch(`${svc.url}/classify`, { method: 'POST', headers: { 'content-type': type }, body: bytesBody(bytes) });
  const feedback = async (body: unknown) =>
    fetch(`${svc.url}/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  test('the fixture model learned something', () => {
    expect(model.trainAccuracy).toBeGreaterThan(0.8);
  });

  test('/healthz and /readyz; /status (internal) says which model serves', async () => {
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${svc.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true }); // no internals for the public
    expect((await fetch(`${svc.url}/status`)).status).toBe(401);
    const body = await (await fetch(`${svc.url}/status`, { headers: svc.internal.headers() })).json();
    expect(body).toMatchObject({ ready: true, champion: model.version, challenger: null, workers: 1 });
    expect(['wasm', 'tensorflow', 'cpu']).toContain(body.backend);
  });

  test('/labels lists the known breeds with display names', async () => {
    const body = await (await fetch(`${svc.url}/labels`)).json();
    expect(body.labels).toContainEqual({ label: 'golden_retriever', display: 'Golden Retriever' });
    expect(body.labels.length).toBeGreaterThanOrEqual(20);
  });

  test('GET /predict classifies a dog API photo, stores it with its label and logs the prediction', async () => {
    const res = await fetch(`${svc.url}/predict`, { headers: svc.internal.headers() });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const body = await res.json();
    expect(body.source).toBe('dogapi');
    expect(body.modelVersion).toBe(model.version);
    expect(body.topK).toHaveLength(3);
    expect(model.labels).toContain(body.prediction.label);
    expect(body.prediction.correct).toBe(body.prediction.label === body.trueLabel);

    const label = parseRawLabel(await svc.lake.raw.read(rawKeys.label(body.predictionId)));
    expect(label).toMatchObject({ id: body.predictionId, label: body.trueLabel, source: 'dogapi', predictionId: body.predictionId });
    expect(await svc.lake.raw.stat(label.imageKey)).toBeDefined();

    const rows = await eventually(async () => {
      const r = await svc.warehouse.query('SELECT * FROM {{prediction_events}} WHERE prediction_id = @id', { id: body.predictionId });
      return r.length ? r : undefined;
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ source: 'dogapi', role: 'champion', model_version: model.version, true_label: body.trueLabel });
    expect(svc.logs.find((l) => l.event === 'prediction' && l.prediction_id === body.predictionId)).toMatchObject({
      role: 'champion',
      model_version: model.version,
      correct: body.prediction.correct,
      reqId: res.headers.get('x-request-id'),
    });
  });

  test('POST /classify with raw bytes and with multipart; upload stored for labelling', async () => {
    const [pug] = await photosOf('pug', 1);
    const bytes = await fs.readFile(pug);
    const raw = await classify(bytes);
    expect(raw.status).toBe(200);
    const a = await raw.json();
    expect(a).toMatchObject({ modelVersion: model.version, image: { format: 'jpeg', width: 224, height: 224 } });
    expect(a.topK[0].label).toBe(a.prediction.label);
    expect(typeof a.latencyMs).toBe('number');

    const form = formWith(bytes, 'image/jpeg', 'pug.jpg');
    const multi = await fetch(`${svc.url}/classify`, { method: 'POST', body: form });
    expect(multi.status).toBe(200);
    const b = await multi.json();
    expect(b.prediction.label).toBe(a.prediction.label);
    expect(b.predictionId).not.toBe(a.predictionId);

    const record = JSON.parse((await svc.lake.raw.read(rawKeys.upload(a.predictionId))).toString()) as UploadRecord;
    expect(record.prediction.predictedLabel).toBe(a.prediction.label);
    // Until it is labelled, an upload is kept as a bounded re-encoded copy (uploads.test.ts), not as sent.
    expect(record.imageKey).toBe(rawKeys.uploadImage(a.predictionId));
    expect(sha256(await svc.lake.raw.read(record.imageKey))).toBe(record.sha256);
    expect(await svc.lake.raw.stat(rawKeys.label(a.predictionId))).toBeUndefined();
  });

  test('served probabilities equal the plain model (batch-norm folding in the workers changes nothing)', async () => {
    expect(svc.logs.find((l) => l.event === 'model_loaded_in_workers')).toMatchObject({ fused_trunk: true });
    const [photo] = await photosOf('beagle', 2).then((p) => p.slice(1));
    const bytes = await fs.readFile(photo);
    const served = await (await classify(bytes)).json();
    const plain = await loadClassifier(svc.lake.models, model.version);
    const { pixels } = await toModelInput(bytes, 224, svc.config.images);
    const {
      probs: [probs],
    } = await plain.predict(pixels, 1);
    for (const t of served.topK) expect(Math.abs(t.probability - probs[model.labels.indexOf(t.label)])).toBeLessThan(1e-3);
    plain.dispose();
  });

  test('POST /feedback: correction labels the upload; confirmation labels it; every error case', async () => {
    const [beagle] = await photosOf('beagle', 1);
    const first = await (await classify(await fs.readFile(beagle))).json();
    const correction = model.labels.find((l) => l !== first.prediction.label)!;

    const bad = await feedback({ predictionId: first.predictionId, correct: false, label: 'unicorn' });
    expect(bad.status).toBe(400);
    const badBody = await bad.json();
    expect(badBody.reason).toBe('unknown_label');
    expect(badBody.accepted).toContain('beagle');

    const ok = await feedback({ predictionId: first.predictionId, correct: false, label: correction });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ correct: false, label: correction, labelled: true });
    const label = parseRawLabel(await svc.lake.raw.read(rawKeys.label(first.predictionId)));
    expect(label).toMatchObject({ label: correction, source: 'upload', predictedLabel: first.prediction.label, correct: false });

    const again = await feedback({ predictionId: first.predictionId, correct: true });
    expect(again.status).toBe(409);

    const second = await (await classify(await fs.readFile(beagle))).json();
    const confirm = await feedback({ predictionId: second.predictionId, correct: true });
    expect(confirm.status).toBe(201);
    expect(parseRawLabel(await svc.lake.raw.read(rawKeys.label(second.predictionId))).label).toBe(second.prediction.label);

    expect((await feedback({ predictionId: 'no-such-prediction', correct: true })).status).toBe(404);
    const malformed = await fetch(`${svc.url}/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"predictionId": ',
    });
    expect(malformed.status).toBe(400);
    expect((await malformed.json()).reason).toBe('malformed_json');
    const missing = await feedback({ predictionId: second.predictionId });
    expect(missing.status).toBe(400);
    expect((await missing.json()).message).toMatch(/correct/);
    expect((await feedback({ predictionId: '../../etc/passwd', correct: true })).status).toBe(400);

    const rows = await eventually(async () => {
      const r = await svc.warehouse.query('SELECT * FROM {{feedback}} WHERE prediction_id IN (@a, @b) ORDER BY ts', {
        a: first.predictionId,
        b: second.predictionId,
      });
      return r.length === 2 ? r : undefined;
    });
    expect(rows[0]).toMatchObject({ correct: false, label: correction, model_version: model.version });
    expect(rows[1]).toMatchObject({ correct: true, label: second.prediction.label });
  });

  test('feedback on a dog API prediction is refused: it already has its true label', async () => {
    const p = await (await fetch(`${svc.url}/predict`, { headers: svc.internal.headers() })).json();
    const res = await feedback({ predictionId: p.predictionId, correct: true });
    expect(res.status).toBe(409);
    expect((await res.json()).reason).toBe('already_labelled');
  });

  test('prediction ids resolve after a restart (read from the store, not memory)', async () => {
    const [samoyed] = await photosOf('samoyed', 1);
    const p = await (await classify(await fs.readFile(samoyed))).json();
    await svc.stopApp();
    await svc.restartApp();
    await svc.app.inference.models.whenReady();
    const res = await feedback({ predictionId: p.predictionId, correct: true });
    expect(res.status).toBe(201);
  });

  test('GET / serves the upload page with camera capture', async () => {
    const res = await fetch(`${svc.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('capture="environment"');
    expect((await fetch(`${svc.url}/static/app.js`)).status).toBe(200);
    expect((await fetch(`${svc.url}/static/style.css`)).status).toBe(200);
  });
});
