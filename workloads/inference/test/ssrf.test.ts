import { HOSTILE_TRICKS, HostileDogApi, INTERNAL_SECRET, startHostileDogApi, UPSTREAM_SECRET } from '../../core/test/hostile-dog-api';
import { startTestService, TestService } from './fixtures/service';

/**
 * GET /predict against a hostile Dog API (issue 14, item 3). Reproduced before the fix: the
 * service fetched the internal address the API named and returned its body to the
 * caller, and followed a redirect to a metadata-like path. Now every trick is a 502 that
 * quotes nothing from upstream, nothing reaches the internal server and nothing is stored.
 */
describe.each(HOSTILE_TRICKS)('GET /predict with a hostile Dog API: %s', (trick) => {
  let hostile: HostileDogApi;
  let svc: TestService;
  beforeAll(async () => {
    hostile = await startHostileDogApi();
    svc = await startTestService({ dogApiUrl: `${hostile.url}/${trick}` });
  });
  afterAll(async () => {
    await svc?.close();
    await hostile?.close();
  });

  test('502 without upstream content; the internal server is never reached; nothing stored', async () => {
    const res = await fetch(`${svc.url}/predict`, { headers: svc.internal.headers() });
    expect(res.status).toBe(502);
    const text = await res.text();
    expect(text).not.toContain(INTERNAL_SECRET);
    expect(text).not.toContain(UPSTREAM_SECRET);
    expect(text).not.toContain(hostile.internal.url);
    expect(hostile.internal.hits).toBe(0);
    expect(await svc.lake.raw.list('images/')).toEqual([]);
  });
});
