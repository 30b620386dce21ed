import sharp from 'sharp';
import { parseRawLabel } from '../../core/dataset/raw-label';
import { rawKeys } from '../../core/layout';
import { sha256, type UploadRecord } from '../records';
import { bytesBody, startTestService, TestService } from './fixtures/service';
import { buildTestModel } from './fixtures/test-model';

/**
 * Uploads (issue 14, item 5): until a person labels an upload, the service keeps a bounded
 * re-encoded copy under uploads/ (which expires), never the client's bytes; a label copies
 * it to images/, where training data lives. Reproduced before: a 14.8 MB noise JPEG was
 * stored whole, metadata and all.
 */
describe('what is kept of an upload', () => {
  let svc: TestService;
  let photo: Buffer;

  beforeAll(async () => {
    svc = await startTestService({ beforeStart: async (lake) => void (await buildTestModel({ store: lake.models })) });
    await svc.app.inference.models.whenReady();
    // A large, incompressible photo that carries a location in its EXIF.
    photo = await sharp({
      create: { width: 3000, height: 2000, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } },
    })
      .jpeg({ quality: 98 })
      .withExif({ IFD0: { ImageDescription: 'taken at 52.5200N 13.4050E' } })
      .toBuffer();
  });
  afterAll(async () => svc?.close());

  test('a bounded copy without metadata, under uploads/; nothing in images/ until labelled', async () => {
    expect(photo.length).toBeGreaterThan(4_000_000);
    const res = await fetch(`${svc.url}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: bytesBody(photo) });
    expect(res.status).toBe(200);
    const { predictionId, image } = await res.json();
    expect(image).toEqual({ format: 'jpeg', width: 3000, height: 2000 }); // the answer describes what was sent

    const record = JSON.parse((await svc.lake.raw.read(rawKeys.upload(predictionId))).toString()) as UploadRecord;
    expect(record.imageKey).toBe(rawKeys.uploadImage(predictionId));
    const kept = await svc.lake.raw.read(record.imageKey);
    expect(kept.equals(photo)).toBe(false);
    expect(kept.length).toBeLessThan(400_000);
    const meta = await sharp(kept).metadata();
    expect([meta.format, Math.max(meta.width!, meta.height!)]).toEqual(['jpeg', svc.config.images.uploadMaxSide]);
    expect(meta.exif).toBeUndefined();
    expect(record).toMatchObject({
      sha256: sha256(kept),
      format: 'jpeg',
      original: { format: 'jpeg', width: 3000, height: 2000, bytes: photo.length },
    });
    expect(await svc.lake.raw.list(`${rawKeys.imagesPrefix}${predictionId}`)).toEqual([]);
  });

  test('a label copies the kept image to images/, and the label points there', async () => {
    const { predictionId } = await (
      await fetch(`${svc.url}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: bytesBody(photo) })
    ).json();
    const res = await fetch(`${svc.url}/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ predictionId, correct: false, label: 'beagle' }),
    });
    expect(res.status).toBe(201);
    const label = parseRawLabel(await svc.lake.raw.read(rawKeys.label(predictionId)));
    expect(label.imageKey).toBe(rawKeys.image(predictionId, 'jpg'));
    const trained = await svc.lake.raw.read(label.imageKey);
    expect(trained.equals(await svc.lake.raw.read(rawKeys.uploadImage(predictionId)))).toBe(true);
    expect(label.sha256).toBe(sha256(trained));
  });
});
