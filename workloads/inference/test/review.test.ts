import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { rawKeys } from '../../core/layout';
import { bytesBody, startTestService, TestService } from './fixtures/service';
import { buildTestModel, photosOf } from './fixtures/test-model';

/** The operator's review page and routes: token-only, the queue with photo, guess and votes, decisions. */
describe('review routes', () => {
  let svc: TestService;
  const token = 'operator-secret-token';
  beforeAll(async () => {
    svc = await startTestService({
      overrides: { trust: { reviewTokenSha256: createHash('sha256').update(token).digest('hex') }, preprocessing: { minClassExamples: 1 } },
      beforeStart: async (lake) => void (await buildTestModel({ store: lake.models })),
    });
    await svc.app.inference.models.whenReady();
  });
  afterAll(async () => svc?.close());
  const as = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

  it('shows users’ pending photos to the operator only, with the photo, the guess and the votes, and records decisions', async () => {
    const [photo] = await photosOf('beagle', 1);
    const bytes = await fs.readFile(photo);
    const p = await (
      await fetch(`${svc.url}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: bytesBody(bytes) })
    ).json();
    const wrong = p.prediction.label === 'pug' ? 'boxer' : 'pug';
    const fb = await fetch(`${svc.url}/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ predictionId: p.predictionId, correct: false, label: wrong }),
    });
    expect(fb.status).toBe(201);

    expect((await fetch(`${svc.url}/review`)).status).toBe(200);
    expect((await fetch(`${svc.url}/review/queue`)).status).toBe(401);
    expect((await fetch(`${svc.url}/review/queue`, { headers: as('wrong') })).status).toBe(401);
    const queue = await (await fetch(`${svc.url}/review/queue`, { headers: as(token) })).json();
    expect(queue.items).toEqual([
      expect.objectContaining({
        id: p.predictionId,
        status: 'pending',
        model: { predicted: p.prediction.label },
        votes: [{ label: wrong, voters: [expect.any(String)] }],
      }),
    ]);
    const img = await fetch(`${svc.url}${queue.items[0].photoUrl}`, { headers: as(token) });
    // The photo as the service keeps it: the bounded re-encoded copy, never the client's bytes.
    expect(Buffer.from(await img.arrayBuffer()).equals(await svc.lake.raw.read(rawKeys.image(p.predictionId, 'jpg')))).toBe(true);
    expect((await fetch(`${svc.url}${queue.items[0].photoUrl}`)).status).toBe(401);

    const bad = await fetch(`${svc.url}/review/${p.predictionId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...as(token) },
      body: JSON.stringify({ decision: 'approve', label: 'Not A Label' }),
    });
    expect(bad.status).toBe(400);
    const ok = await fetch(`${svc.url}/review/${p.predictionId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...as(token) },
      body: JSON.stringify({ decision: 'approve', label: 'beagle', reviewer: 'ana' }),
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ id: p.predictionId, decision: 'approve', label: 'beagle', reviewer: 'ana' });
    expect((await (await fetch(`${svc.url}/review/queue`, { headers: as(token) })).json()).items).toEqual([]);
  });
});

describe('review routes without an operator token configured', () => {
  it('do not exist', async () => {
    const svc = await startTestService();
    try {
      expect((await fetch(`${svc.url}/review`)).status).toBe(404);
      expect((await fetch(`${svc.url}/review/queue`)).status).toBe(404);
    } finally {
      await svc.close();
    }
  });
});
