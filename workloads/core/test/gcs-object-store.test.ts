import { Storage } from '@google-cloud/storage';
import { GcsObjectStore } from '../storage/gcs-object-store';
import { NotFoundError, PreconditionFailedError, readJson, writeJson } from '../storage/object-store';
import { modelKeys } from '../layout';
import { GcsStandIn } from './gcs-stand-in';

const BUCKET = 'cv-test-models';

describe('GcsObjectStore against a local stand-in of the GCS JSON API', () => {
  const gcs = new GcsStandIn();
  let store: GcsObjectStore;

  beforeAll(async () => {
    const apiEndpoint = await gcs.start();
    // A custom endpoint without useAuthWithCustomEndpoint sends no credentials: no network, no ADC lookup.
    const storage = new Storage({ apiEndpoint, projectId: 'cv-test', useAuthWithCustomEndpoint: false, retryOptions: { maxRetries: 1 } });
    store = new GcsObjectStore(storage, BUCKET);
  });
  afterAll(() => gcs.stop());
  beforeEach(() => {
    gcs.requests.length = 0;
    gcs.objects.clear();
    gcs.beforeHandle = undefined;
  });

  it('writes with one single-request upload naming bucket, object and content type', async () => {
    const data = Buffer.from([1, 2, 3, 250]);
    const info = await store.write('versions/v1/model.json', data, { contentType: 'application/json' });
    const uploads = gcs.requests.filter((r) => r.path.startsWith('/upload/'));
    expect(uploads).toHaveLength(1);
    const [up] = uploads;
    expect(up.method).toBe('POST');
    expect(up.path).toBe(`/upload/storage/v1/b/${BUCKET}/o`);
    // One multipart request (metadata + bytes): GCS makes the object visible whole or not at all.
    expect(up.query).toEqual({ uploadType: 'multipart', name: 'versions/v1/model.json' });
    expect(up.media).toEqual(data);
    expect(up.uploadMetadata).toEqual({ contentType: 'application/json' });
    expect(up.headers.authorization).toBeUndefined();

    const stored = gcs.objects.get(`${BUCKET}/versions/v1/model.json`)!;
    expect(info).toEqual({ key: 'versions/v1/model.json', size: 4, generation: stored.generation, updated: new Date(stored.updated) });
    expect(store.uri('versions/v1/model.json')).toBe(`gs://${BUCKET}/versions/v1/model.json`);
  });

  it('reads the generation it stat-ed: metadata GET, then media GET pinned to that generation', async () => {
    const obj = gcs.put(BUCKET, 'registry/production.json', '{"version":"v1"}', 'application/json');
    const found = await store.readIfExists('registry/production.json');
    expect(found!.data.toString()).toBe('{"version":"v1"}');
    expect(found!.info).toMatchObject({ key: 'registry/production.json', size: 16, generation: obj.generation });
    const [meta, media] = gcs.requests;
    expect(meta).toMatchObject({ method: 'GET', path: `/storage/v1/b/${BUCKET}/o/registry%2Fproduction.json` });
    expect(meta.query.alt).toBeUndefined();
    expect(media.method).toBe('GET');
    expect(media.path).toMatch(new RegExp(`/storage/v1/b/${BUCKET}/o/registry%2Fproduction.json$`));
    expect(media.query).toMatchObject({ alt: 'media', generation: obj.generation });
    expect(await readJson(store, 'registry/production.json')).toEqual({ version: 'v1' });
  });

  it('reads again when another writer replaces the object between stat and download', async () => {
    gcs.put(BUCKET, 'registry/production.json', '{"version":"v1"}');
    let replaced = false;
    gcs.beforeHandle = (r) => {
      if (r.query.alt === 'media' && !replaced) {
        replaced = true;
        gcs.put(BUCKET, 'registry/production.json', '{"version":"v2"}');
      }
    };
    const found = await store.readIfExists('registry/production.json');
    expect(found!.data.toString()).toBe('{"version":"v2"}');
    expect(found!.info.generation).toBe(gcs.objects.get(`${BUCKET}/registry/production.json`)!.generation);
    expect(gcs.requests.filter((r) => r.query.alt === 'media')).toHaveLength(2);
  });

  it('refuses precondition tokens that are not GCS generations before sending anything', async () => {
    await expect(store.write('a.json', '{}', { ifGenerationMatch: 'f00d' })).rejects.toThrow(
      `invalid ifGenerationMatch "f00d" for gs://${BUCKET}/a.json: expected a GCS generation number, or '0' for "only if absent"`,
    );
    expect(gcs.requests).toHaveLength(0);
  });

  it('answers absent objects: read throws NotFoundError with the gs:// URI, stat and readIfExists give undefined', async () => {
    await expect(store.read('nope.json')).rejects.toThrow(new NotFoundError(`gs://${BUCKET}/nope.json`));
    expect(await store.stat('nope.json')).toBeUndefined();
    expect(await store.readIfExists('nope.json')).toBeUndefined();
  });

  it('sends ifGenerationMatch=0 for create-only writes and turns 412 into PreconditionFailedError', async () => {
    const key = modelKeys.pointer('production');
    const first = await writeJson(store, key, { version: 'v1' }, { ifGenerationMatch: '0' });
    expect(gcs.requests.find((r) => r.path.startsWith('/upload/'))!.query.ifGenerationMatch).toBe('0');

    gcs.requests.length = 0;
    const err = await writeJson(store, key, { version: 'v2' }, { ifGenerationMatch: '0' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreconditionFailedError);
    expect((err as PreconditionFailedError).actual).toBe(first.generation);
    expect((err as Error).message).toBe(
      `precondition failed for gs://${BUCKET}/${key}: expected generation (absent), found ${first.generation}`,
    );
    // A 412 is an answer, not a transient failure: exactly one upload attempt.
    expect(gcs.requests.filter((r) => r.path.startsWith('/upload/'))).toHaveLength(1);
    expect(await readJson(store, key)).toEqual({ version: 'v1' });
  });

  it('moves a pointer only from the generation it read (compare-and-swap)', async () => {
    const key = modelKeys.pointer('production');
    const v1 = await writeJson(store, key, { version: 'v1' });
    const v2 = await writeJson(store, key, { version: 'v2' }, { ifGenerationMatch: v1.generation });
    const up = gcs.requests.filter((r) => r.path.startsWith('/upload/'));
    expect(up[up.length - 1].query.ifGenerationMatch).toBe(v1.generation);
    expect(v2.generation).not.toBe(v1.generation);
    // A second writer still holding v1's generation loses.
    await expect(writeJson(store, key, { version: 'v3' }, { ifGenerationMatch: v1.generation })).rejects.toThrow(PreconditionFailedError);
    expect(await readJson(store, key)).toEqual({ version: 'v2' });
  });

  it('lists by prefix across pages, sorted, with sizes and generations', async () => {
    for (const k of ['labels/b.json', 'labels/a.json', 'labels/c.json', 'labelsx/d.json', 'images/x.jpg']) gcs.put(BUCKET, k, k);
    const listed = await store.list('labels/');
    expect(listed.map((o) => o.key)).toEqual(['labels/a.json', 'labels/b.json', 'labels/c.json']);
    expect(listed[0]).toMatchObject({ size: 'labels/a.json'.length, generation: gcs.objects.get(`${BUCKET}/labels/a.json`)!.generation });
    const lists = gcs.requests.filter((r) => r.path === `/storage/v1/b/${BUCKET}/o`);
    expect(lists.length).toBe(2); // two pages of two
    expect(lists.every((r) => r.query.prefix === 'labels/')).toBe(true);
    expect(lists[1].query.pageToken).toBe('2');
  });

  it('deletes, ignoring objects that are already gone', async () => {
    gcs.put(BUCKET, 'uploads/a.json', '{}');
    await store.delete('uploads/a.json');
    await store.delete('uploads/a.json');
    expect(gcs.objects.has(`${BUCKET}/uploads/a.json`)).toBe(false);
    const deletes = gcs.requests.filter((r) => r.method === 'DELETE');
    expect(deletes.map((r) => r.path)).toEqual([
      `/storage/v1/b/${BUCKET}/o/uploads%2Fa.json`,
      `/storage/v1/b/${BUCKET}/o/uploads%2Fa.json`,
    ]);
  });
});
