import { DogApiError, DogCeoClient } from '../dogapi/dog-ceo-client';
import { HOSTILE_TRICKS, HostileDogApi, INTERNAL_SECRET, startHostileDogApi, UPSTREAM_SECRET } from './hostile-dog-api';

/**
 * The image source against a hostile Dog API (issue 14, item 3): it cannot make the client
 * connect anywhere but the allowed image hosts, follow a redirect, or ingest a breed
 * nobody configured. Its answers may appear in the error (for the log), never the
 * internal server's.
 */
describe('Dog CEO client against a hostile API', () => {
  let hostile: HostileDogApi;
  beforeAll(async () => {
    hostile = await startHostileDogApi();
  });
  afterAll(async () => hostile?.close());

  test.each(HOSTILE_TRICKS)('%s: refused, and nothing reaches the internal server', async (trick) => {
    const client = new DogCeoClient({ baseUrl: `${hostile.url}/${trick}`, timeoutMs: 2000 });
    const err = await client
      .randomImage()
      .then((img) => client.fetchImage(img.url))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(DogApiError);
    expect(String((err as Error).message)).not.toContain(INTERNAL_SECRET);
    expect(hostile.internal.hits).toBe(0);
  });

  test('each refusal says why', async () => {
    const why = async (trick: string) => {
      const client = new DogCeoClient({ baseUrl: `${hostile.url}/${trick}`, timeoutMs: 2000 });
      return (await client
        .randomImage()
        .then((img) => client.fetchImage(img.url))
        .catch((e: Error) => e)) as Error;
    };
    expect((await why('ssrf')).message).toMatch(/not on an allowed origin/);
    expect((await why('plain-http')).message).toMatch(/not on an allowed origin \(https:\/\/images\.dog\.ceo/);
    expect((await why('redirect')).message).toMatch(/answered a redirect \(HTTP 302\); redirects are not followed/);
    expect((await why('breed')).message).toMatch(/"wolf-grey", which is not an accepted breed/);
    // The upstream's own error is kept for the log (the service does not pass it on).
    expect((await why('error-body')).message).toContain(UPSTREAM_SECRET);
    expect(hostile.internal.hits).toBe(0);
  });

  test('a direct fetch of an internal URL is refused before connecting', async () => {
    const client = new DogCeoClient({ baseUrl: 'https://dog.ceo' });
    await expect(client.fetchImage(`${hostile.internal.url}/latest/meta-data/`)).rejects.toThrow(/not on an allowed origin/);
    await expect(client.fetchImage('https://user:pw@images.dog.ceo/breeds/beagle/a.jpg')).rejects.toThrow(/not on an allowed origin/);
    expect(hostile.internal.hits).toBe(0);
  });
});
