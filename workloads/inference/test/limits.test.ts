import * as net from 'node:net';
import sharp from 'sharp';
import { loadConfig } from '../../core/config/load';
import { bytesBody, startTestService, TestService } from './fixtures/service';
import { buildTestModel } from './fixtures/test-model';

/**
 * Time and size limits against a hostile client (issue 14, item 1): a slow body is cut
 * off, JSON bodies are small, unknown fields are refused, request ids are plain, and
 * image decodes are bounded.
 */
describe('a slow client', () => {
  let svc: TestService;
  const REQUEST_TIMEOUT_MS = 1000;
  beforeAll(async () => {
    svc = await startTestService({ overrides: { inference: { requestTimeoutMs: REQUEST_TIMEOUT_MS } } });
  });
  afterAll(async () => svc?.close());

  test('a client that trickles its body is answered 408 and disconnected', async () => {
    const { port } = new URL(svc.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (d) => received.push(d));
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.write('POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n');
    // One byte every 200 ms: never idle, never done. Without a request timeout this runs forever.
    const trickle = setInterval(() => socket.writable && socket.write('x'), 200);
    const cutOff = await Promise.race([
      closed.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 8 * REQUEST_TIMEOUT_MS)),
    ]);
    clearInterval(trickle);
    socket.destroy();
    expect(cutOff).toBe(true);
    expect(Buffer.concat(received).toString()).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe('time and size limits', () => {
  let svc: TestService;

  beforeAll(async () => {
    svc = await startTestService({
      overrides: { inference: { decodeConcurrency: 1 } },
      beforeStart: async (lake) => void (await buildTestModel({ store: lake.models })),
    });
    await svc.app.inference.models.whenReady();
  });
  afterAll(async () => svc?.close());

  const feedback = (body: string) =>
    fetch(`${svc.url}/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  test('/feedback refuses a body over 1 KB unread (413), however it is nested', async () => {
    const padded = JSON.stringify({ predictionId: 'x', correct: true, label: 'beagle', pad: 'p'.repeat(2000) });
    expect((await feedback(padded)).status).toBe(413);
    const nested = '['.repeat(200_000) + ']'.repeat(200_000);
    const res = await feedback(nested);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ statusCode: 413 });
  });

  test('unknown fields in a JSON body are a 400 naming them, not ignored', async () => {
    const res = await feedback(JSON.stringify({ predictionId: 'no-such-prediction', correct: true, admin: true }));
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.reason).toBe('invalid_body');
    expect(body.message).toMatch(/admin/);
  });

  test('x-request-id is kept only when short and plain; otherwise a fresh id is made', async () => {
    const idOf = async (given: string) =>
      (await fetch(`${svc.url}/healthz`, { headers: { 'x-request-id': given } })).headers.get('x-request-id');
    expect(await idOf('lb-7f3a.91:2')).toBe('lb-7f3a.91:2');
    for (const hostile of ['x'.repeat(12_000), 'two words', 'a\u00e9b', '"quoted"', 'x'.repeat(65)]) {
      const id = await idOf(hostile);
      expect(id).not.toBe(hostile);
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  test('the default pixel limit refuses a 49-megapixel WebP of 2 KB before decoding it', async () => {
    expect(loadConfig({ env: {} }).images.maxPixels).toBeLessThanOrEqual(4096 * 4096);
    const bomb = await sharp({ create: { width: 7000, height: 7000, channels: 3, background: '#808080' } })
      .webp({ lossless: true })
      .toBuffer();
    expect(bomb.length).toBeLessThan(64 * 1024);
    const res = await fetch(`${svc.url}/classify`, { method: 'POST', headers: { 'content-type': 'image/webp' }, body: bytesBody(bomb) });
    expect(res.status).toBe(413);
    expect((await res.json()).reason).toBe('too_many_pixels');
  });

  test('concurrent decodes are bounded per instance; the others wait their turn', async () => {
    const big = await sharp({
      create: { width: 3000, height: 3000, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } },
    })
      .jpeg({ quality: 90 })
      .toBuffer();
    const { decodes } = svc.app.inference.predictor;
    let maxRunning = 0;
    let maxWaiting = 0;
    const sample = setInterval(() => {
      maxRunning = Math.max(maxRunning, decodes.running());
      maxWaiting = Math.max(maxWaiting, decodes.length());
    }, 2);
    const answers = await Promise.all(
      Array.from({ length: 4 }, () =>
        fetch(`${svc.url}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: bytesBody(big) }),
      ),
    );
    clearInterval(sample);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(maxRunning).toBe(1);
    expect(maxWaiting).toBeGreaterThan(0);
  });
});
