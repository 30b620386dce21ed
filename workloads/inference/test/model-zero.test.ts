import { promises as fs } from 'node:fs';
import { rawKeys } from '../../core/layout';
import { readPointer } from '../../core/model/registry';
import { readModelMeta } from '../../core/model/model-version';
import { openSetVerdict } from '../predictor';
import { syntheticNotDogs } from './fixtures/not-dogs';
import { bytesBody, eventually, startTestService, TestService } from './fixtures/service';
import { photosOf } from './fixtures/test-model';

/**
 * A new stack (empty data root, default backbone): the service creates model zero itself and
 * serves it at once; /classify answers "not a dog" for things that are not dogs, names the
 * breed of a dog, and records the answer with the prediction, never as a label.
 */
describe('a new stack serves model zero and answers open-set questions', () => {
  let svc: TestService;
  let champion: string;
  beforeAll(async () => {
    svc = await startTestService({ overrides: { model: { zeroShot: true } } });
    const ready = await eventually(async () => {
      if ((await fetch(`${svc.url}/readyz`)).status !== 200) return undefined;
      // Which model serves is for internal callers (GET /status), not the public /readyz.
      return (await (await fetch(`${svc.url}/status`, { headers: svc.internal.headers() })).json()) as { champion: string };
    }, 60_000);
    champion = ready.champion;
  }, 90_000);
  afterAll(async () => svc?.close());

  const classify = (bytes: Buffer) =>
    fetch(`${svc.url}/classify`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytesBody(bytes) });

  test('/readyz is true with model zero, the production model, recorded as zero-shot', async () => {
    expect(champion).toMatch(/^v19700101T000000Z-zero-/);
    expect((await readPointer(svc.lake.models, 'production')).pointer?.version).toBe(champion);
    const events = await eventually(async () => {
      const rows = await svc.warehouse.query('SELECT event, reason FROM {{model_events}} WHERE model_version = @v ORDER BY event', {
        v: champion,
      });
      return rows.length === 2 ? rows : undefined;
    });
    expect(events.map((e) => e.event)).toEqual(['promotion', 'registration']);
    expect(String(events[1].reason)).toMatch(/^zero-shot: /);
  });

  test('a dog photo gets its breed', async () => {
    const [photo] = await photosOf('samoyed', 1);
    const res = await classify(await fs.readFile(photo));
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ modelVersion: champion, prediction: { label: 'samoyed' }, answer: { verdict: 'breed' } });
    expect(body.answer.dogProbability).toBeGreaterThan(0.5);
  });

  test('images that are not dogs are answered "this doesn\'t look like a dog", logged, and never labelled', async () => {
    const images = await syntheticNotDogs(5, 3);
    const ids: string[] = [];
    for (const image of images) {
      const res = await classify(image.bytes);
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body.answer).toMatchObject({ verdict: 'not_a_dog', message: "This doesn't look like a dog." });
      // The page still offers the breeds, so the person can say what it is.
      expect(body.topK.length).toBeGreaterThan(0);
      ids.push(body.predictionId);
    }
    const record = JSON.parse((await svc.lake.raw.read(rawKeys.upload(ids[0]))).toString('utf8'));
    expect(record.prediction.answer.verdict).toBe('not_a_dog');
    for (const id of ids) expect(await svc.lake.raw.stat(rawKeys.label(id))).toBeUndefined();
    const rows = await eventually(async () => {
      const r = await svc.warehouse.query(
        `SELECT open_set, dog_probability FROM {{prediction_events}} WHERE prediction_id IN (${ids.map((_, i) => `@id${i}`).join(', ')})`,
        Object.fromEntries(ids.map((id, i) => [`id${i}`, id])),
      );
      return r.length === ids.length ? r : undefined;
    });
    for (const r of rows) {
      expect(r.open_set).toBe('not_a_dog');
      expect(Number(r.dog_probability)).toBeLessThan(svc.config.inference.openSet.notADogBelow);
    }
  });
});

describe('the open-set verdict', () => {
  const t = { notADogBelow: 0.26, unknownBreedBelow: 0.38 };
  test('not a dog first, then none of our breeds, else the breed; 0 turns an answer off; no ImageNet head, no "not a dog"', () => {
    expect(openSetVerdict(0.99, 0.1, t)).toBe('not_a_dog');
    expect(openSetVerdict(0.2, 0.9, t)).toBe('unknown_breed');
    expect(openSetVerdict(0.9, 0.9, t)).toBe('breed');
    expect(openSetVerdict(0.2, 0.1, { notADogBelow: 0, unknownBreedBelow: 0 })).toBe('breed');
    expect(openSetVerdict(0.9, null, t)).toBe('breed');
  });
});

describe('model zero names the breeds the stack accepts', () => {
  let svc: TestService | undefined;
  afterAll(async () => svc?.close());

  test('with dogApi.breeds set, model zero names those breeds only (a challenger could otherwise never replace it)', async () => {
    svc = await startTestService({ overrides: { model: { zeroShot: true }, dogApi: { breeds: ['samoyed', 'pug', 'beagle'] } } });
    const version = await eventually(async () => (await readPointer(svc!.lake.models, 'production')).pointer?.version, 60_000);
    expect((await readModelMeta(svc.lake.models, version)).labels).toEqual(['beagle', 'pug', 'samoyed']);
  }, 90_000);
});
