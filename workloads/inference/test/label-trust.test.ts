import { promises as fs } from 'node:fs';
import { perceptualHash } from '../../core/dataset/perceptual-hash';
import { parseRawLabel } from '../../core/dataset/raw-label';
import { rawKeys } from '../../core/layout';
import type { WriteOptions } from '../../core/storage/object-store';
import { bytesBody, startTestService, TestService } from './fixtures/service';
import { buildTestModel, photosOf } from './fixtures/test-model';

/**
 * Labels as the service writes them (issue 13: source, trust, perceptual hash, voter), and
 * feedback's durability (issue 14: it claims its upload and writes its label; a crash
 * between the two must lose nothing, and the retry must succeed, not answer 409 over a
 * label that was never written).
 */
describe('labels the service writes', () => {
  let svc: TestService;
  let crashAt: ((key: string) => boolean) | null = null;

  beforeAll(async () => {
    svc = await startTestService({ beforeStart: async (lake) => void (await buildTestModel({ store: lake.models })) });
    await svc.app.inference.models.whenReady();
    const raw = svc.lake.raw;
    const write = raw.write.bind(raw);
    raw.write = async (key: string, data: Buffer | string, options?: WriteOptions) => {
      if (crashAt?.(key)) throw new Error(`simulated crash writing ${key}`);
      return write(key, data, options);
    };
  });
  afterAll(async () => svc?.close());

  const classify = async (bytes: Buffer) =>
    (await fetch(`${svc.url}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: bytesBody(bytes) })).json();
  const feedback = (body: unknown) =>
    fetch(`${svc.url}/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('labels record their source and trust: the image API trusted, a user untrusted, with the photo’s hash and the voter', async () => {
    const ingested = await (await fetch(`${svc.url}/predict`, { headers: svc.internal.headers() })).json();
    expect(parseRawLabel(await svc.lake.raw.read(rawKeys.label(ingested.predictionId)))).toMatchObject({
      source: 'dogapi',
      trust: 'trusted',
      phash: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    const [photo] = await photosOf('beagle', 1);
    const bytes = await fs.readFile(photo);
    const p = await classify(bytes);
    const res = await feedback({ predictionId: p.predictionId, correct: true });
    expect(await res.json()).toMatchObject({ labelled: true, trusted: false });
    const label = parseRawLabel(await svc.lake.raw.read(rawKeys.label(p.predictionId)));
    expect(label).toMatchObject({
      source: 'upload',
      trust: 'untrusted',
      phash: await perceptualHash(bytes),
      voter: expect.stringMatching(/^v-[0-9a-f]{20}$/),
      modelProbability: p.prediction.confidence,
    });
    // The same client again: the same pseudonymous voter (one vote per photo), no address stored.
    const again = await classify(bytes);
    await feedback({ predictionId: again.predictionId, correct: true });
    expect(parseRawLabel(await svc.lake.raw.read(rawKeys.label(again.predictionId))).voter).toBe(label.voter);
    expect(JSON.stringify(label)).not.toContain('127.0.0.1');
  });

  it.each([
    ['writing the label', (key: string) => key.startsWith(rawKeys.labelsPrefix)],
    ['claiming the upload', (key: string) => key.startsWith(rawKeys.uploadsPrefix)],
  ])('crashing while %s: the retry records the feedback and the label, once', async (_when, at) => {
    const [photo] = await photosOf('pug', 1);
    const p = await classify(await fs.readFile(photo));
    crashAt = at;
    expect((await feedback({ predictionId: p.predictionId, correct: true })).status).toBe(500);
    crashAt = null;
    const retry = await feedback({ predictionId: p.predictionId, correct: true });
    expect(retry.status).toBe(201);
    expect(await retry.json()).toMatchObject({ labelled: true, label: p.prediction.label });
    expect(parseRawLabel(await svc.lake.raw.read(rawKeys.label(p.predictionId)))).toMatchObject({
      label: p.prediction.label,
      correct: true,
    });
    expect((await feedback({ predictionId: p.predictionId, correct: true })).status).toBe(409);
  });
});
