import { rawKeys } from '../../core/layout';
import { withTimeout } from '../../core/async';
import { DecodeTimeoutError } from '../http-errors';
import { badImages, realJpeg, unusualImages } from './fixtures/images';
import { bytesBody, formWith, startTestService, TestService } from './fixtures/service';
import { buildTestModel } from './fixtures/test-model';

const MAX_BYTES = 4 * 1024 * 1024;

/** Bad input is refused with a 4xx naming the problem and stores nothing; unusual but valid images are accepted. */
describe('image handling on POST /classify', () => {
  let svc: TestService;

  beforeAll(async () => {
    svc = await startTestService({
      overrides: { images: { maxBytes: MAX_BYTES, maxPixels: 50_000_000, minSide: 8 } },
      beforeStart: async (lake) => void (await buildTestModel({ store: lake.models })),
    });
    await svc.app.inference.models.whenReady();
  });
  afterAll(async () => svc?.close());

  const stored = async () => (await svc.lake.raw.list('')).length;

  test('every kind of bad input gets its 4xx and a clear message; nothing is stored', async () => {
    const before = await stored();
    const cases = await badImages(MAX_BYTES);
    for (const [name, c] of Object.entries(cases)) {
      for (const mode of ['raw', 'multipart'] as const) {
        const started = Date.now();
        let res: Response;
        if (mode === 'raw') {
          res = await fetch(`${svc.url}/classify`, { method: 'POST', headers: { 'content-type': c.type }, body: bytesBody(c.bytes) });
        } else {
          const form = formWith(c.bytes, c.type, 'upload.bin');
          res = await fetch(`${svc.url}/classify`, { method: 'POST', body: form });
        }
        const body = await res.json();
        expect({ name, mode, status: res.status, reason: body.reason }).toEqual({ name, mode, status: c.status, reason: c.reason });
        expect(body.message.length).toBeGreaterThan(10);
        // The bomb is refused from its header: no 2.7 GB decode.
        if (c.reason === 'too_many_pixels') expect(Date.now() - started).toBeLessThan(1000);
      }
    }
    expect(await stored()).toBe(before);
  });

  test('messages say what is accepted', async () => {
    const res = await fetch(`${svc.url}/classify`, {
      method: 'POST',
      headers: { 'content-type': 'image/gif' },
      body: bytesBody((await badImages(MAX_BYTES)).GIF.bytes),
    });
    const body = await res.json();
    expect(body.message).toMatch(/GIF is not accepted: send a JPEG, PNG or WebP image/);
    expect(body.accepted).toEqual(['image/jpeg', 'image/png', 'image/webp']);
  });

  test('a body that is neither multipart nor an image type is refused with 415', async () => {
    const res = await fetch(`${svc.url}/classify`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(res.status).toBe(415);
    expect((await res.json()).message).toMatch(/multipart\/form-data|image/);
  });

  test('unusual but valid images are accepted, normalised and stored', async () => {
    for (const [name, c] of Object.entries(await unusualImages())) {
      const res = await fetch(`${svc.url}/classify`, { method: 'POST', headers: { 'content-type': c.type }, body: bytesBody(c.bytes) });
      const body = await res.json();
      expect({ name, status: res.status }).toEqual({ name, status: 200 });
      expect(body.topK.length).toBeGreaterThan(0);
      expect(await svc.lake.raw.stat(rawKeys.upload(body.predictionId))).toBeDefined();
    }
  });

  test('a burst of bad uploads neither crashes nor stalls the service', async () => {
    const cases = Object.values(await badImages(MAX_BYTES));
    const burst = Array.from({ length: 24 }, (_, i) => cases[i % cases.length]).map((c) =>
      fetch(`${svc.url}/classify`, { method: 'POST', headers: { 'content-type': c.type }, body: bytesBody(c.bytes) }).then((r) => r.status),
    );
    const statuses = await Promise.all(burst);
    expect(statuses.every((s) => s >= 400 && s < 500)).toBe(true);
    const good = await fetch(`${svc.url}/classify`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: bytesBody(await realJpeg('pug')),
    });
    expect(good.status).toBe(200);
  });
});

describe('decode time limit', () => {
  test('a decode that takes too long is abandoned with a decode_timeout error', async () => {
    const slow = new Promise((r) => setTimeout(r, 500));
    await expect(withTimeout(slow, 20, () => new DecodeTimeoutError(20))).rejects.toMatchObject({ reason: 'decode_timeout' });
    await expect(withTimeout(Promise.resolve(7), 20, () => new DecodeTimeoutError(20))).resolves.toBe(7);
  });
});
