import { LocalIdTokenIssuer } from '../../core/gcp/local-id-tokens';
import { startTestService, TestService } from './fixtures/service';

/**
 * Least exposure (issue 14, items 1-2): security headers, per-client rate limit and
 * daily upload quota, internal routes only for the scheduler's OIDC token, no internals
 * in public answers, generic server errors. A service without a model is enough: every
 * check happens before a prediction would.
 */
describe('least exposure', () => {
  let svc: TestService;

  beforeAll(async () => {
    svc = await startTestService({
      overrides: { inference: { trustProxyHops: 1, rateLimit: { perMinute: 5, uploadsPerDay: 2 } } },
      beforeStart: async (lake) => {
        // A storage failure whose message names internals (a path): it must stay in the log.
        const readIfExists = lake.raw.readIfExists.bind(lake.raw);
        lake.raw.readIfExists = async (key: string) => {
          if (key.includes('boom')) throw new Error('EACCES: permission denied, open /srv/secret-bucket/uploads/boom.json');
          return readIfExists(key);
        };
      },
    });
  });
  afterAll(async () => svc?.close());

  /** Each test speaks as its own client (X-Forwarded-For, one trusted proxy hop), so limits do not mix. */
  const as = (client: string, init: RequestInit = {}): RequestInit => ({
    ...init,
    headers: { ...(init.headers as Record<string, string>), 'x-forwarded-for': client },
  });

  test('pages and answers carry a strict Content-Security-Policy that forbids framing', async () => {
    for (const path of ['/', '/static/app.js', '/labels']) {
      const res = await fetch(`${svc.url}${path}`, as('198.51.100.1'));
      expect(res.status).toBe(200);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  test('a client over the per-minute limit gets 429 in the service error shape; other clients are not affected', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await fetch(`${svc.url}/labels`, as('198.51.100.2'))).status);
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    const limited = await fetch(`${svc.url}/labels`, as('198.51.100.2'));
    expect(limited.headers.get('retry-after')).toBeTruthy();
    expect(await limited.json()).toMatchObject({ statusCode: 429, reason: 'rate_limited' });
    // Only the entry the trusted proxy added counts: a forged first entry does not make a new client.
    expect((await fetch(`${svc.url}/labels`, as('203.0.113.9, 198.51.100.2'))).status).toBe(429);
    expect((await fetch(`${svc.url}/labels`, as('198.51.100.3'))).status).toBe(200);
  });

  test('uploads beyond the daily quota get 429 upload_quota', async () => {
    const upload = () =>
      fetch(`${svc.url}/classify`, as('198.51.100.4', { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: 'x' }));
    expect((await upload()).status).not.toBe(429);
    expect((await upload()).status).not.toBe(429);
    const third = await upload();
    expect(third.status).toBe(429);
    expect((await third.json()).reason).toBe('upload_quota');
  });

  test('GET /predict and /status need the scheduler token: none, forged, expired, wrong audience → 401; another caller → 403', async () => {
    const { ingestAuth } = svc.internal;
    const forger = new LocalIdTokenIssuer();
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const cases: Array<[string, Record<string, string>, number]> = [
      ['no token', {}, 401],
      ['garbage', bearer('not.a.token'), 401],
      ['signed by another key', bearer(forger.sign({ audience: ingestAuth.audience, email: ingestAuth.serviceAccount })), 401],
      [
        'expired',
        bearer(svc.internal.issuer.sign({ audience: ingestAuth.audience, email: ingestAuth.serviceAccount, now: Date.now() - 7200_000 })),
        401,
      ],
      ['another audience', bearer(svc.internal.issuer.sign({ audience: 'https://elsewhere', email: ingestAuth.serviceAccount })), 401],
      ['another service account', bearer(svc.internal.issuer.sign({ audience: ingestAuth.audience, email: 'intruder@example.com' })), 403],
    ];
    for (const [what, headers, status] of cases) {
      for (const route of ['/predict', '/status']) {
        const res = await fetch(`${svc.url}${route}`, as('198.51.100.5', { headers }));
        expect([what, route, res.status]).toEqual([what, route, status]);
      }
    }
    // Refused for what is wrong with each token, not because the certificates could not be read.
    const whys = svc.logs.filter((l) => l.event === 'internal_auth_refused' && l.why).map((l) => String(l.why));
    expect(whys.length).toBeGreaterThan(0);
    expect(whys.filter((w) => /certificates/.test(w))).toEqual([]);
    const ok = await fetch(`${svc.url}/predict`, as('198.51.100.5', { headers: svc.internal.headers() }));
    expect(ok.status).toBe(200);
  });

  test('a server error answers a generic message with the request id; the details go to the log', async () => {
    const res = await fetch(
      `${svc.url}/feedback`,
      as('198.51.100.6', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ predictionId: 'boom', correct: true }),
      }),
    );
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(JSON.stringify(body)).not.toMatch(/secret-bucket|EACCES/);
    expect(body.message).toContain(res.headers.get('x-request-id'));
    expect(svc.logs.some((l) => JSON.stringify(l).includes('/srv/secret-bucket/uploads/boom.json'))).toBe(true);
  });
});

describe('internal routes without a configured caller', () => {
  test.each([
    ['no service account', { serviceAccount: '' }],
    ['no audience', { audience: '' }],
  ])('%s: they refuse everyone (403), even a token the service could verify', async (_what, ingestAuth) => {
    const closed = await startTestService({ overrides: { inference: { ingestAuth } } });
    try {
      const res = await fetch(`${closed.url}/predict`, { headers: closed.internal.headers() });
      expect(res.status).toBe(403);
      expect((await res.json()).reason).toBe('internal_route');
    } finally {
      await closed.close();
    }
  });
});
