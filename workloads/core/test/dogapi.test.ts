import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { BREEDS, dogCeoFromLabel } from '../dogapi/breeds';
import { DogApiError, DogCeoClient, dogCeoClientFromConfig } from '../dogapi/dog-ceo-client';
import { LocalDogApi, startLocalDogApi } from '../dogapi/local-dog-api';
import { loadConfig } from '../config/load';
import { closedPort } from './net';
import { DOGS_DIR, REPO_ROOT } from './paths';

const JPEG_MAGIC = Buffer.from([0xff, 0xd8, 0xff]);

describe('local Dog CEO API over the real photos', () => {
  let api: LocalDogApi;
  let client: DogCeoClient;

  beforeAll(async () => {
    api = await startLocalDogApi({ datasetDir: DOGS_DIR, seed: 7 });
    client = new DogCeoClient({ baseUrl: api.url, timeoutMs: 5000 });
  });
  afterAll(() => api.close());

  it('serves random images whose URL label is the folder they come from, with the exact file bytes', async () => {
    const labels = new Set<string>();
    for (let i = 0; i < 25; i++) {
      const img = await client.randomImage();
      expect(img.url).toMatch(new RegExp(`^${api.url}/breeds/[a-z-]+/n\\d+_\\d+\\.jpg$`));
      const file = decodeURIComponent(new URL(img.url).pathname.split('/').pop()!);
      // The label parsed from the URL must be the folder that holds this very file.
      const onDisk = await fs.readFile(path.join(DOGS_DIR, img.label, file));
      const bytes = await client.fetchImage(img.url);
      expect(bytes.subarray(0, 3)).toEqual(JPEG_MAGIC);
      expect(bytes.equals(onDisk)).toBe(true);
      // Stanford Dogs file names start with the breed's WordNet id: a second, independent check.
      expect(file.startsWith(BREEDS.find((b) => b.label === img.label)!.wordnetId)).toBe(true);
      labels.add(img.label);
    }
    expect(labels.size).toBeGreaterThan(5);
  });

  it('lists all 20 breeds in the Dog CEO shape (sub-breeds under their main breed)', async () => {
    const all = await client.listBreeds();
    expect(all.retriever).toEqual(['golden']);
    expect(all.beagle).toEqual([]);
    const names = await client.listBreedNames();
    expect(names).toHaveLength(20);
    expect(names).toEqual(BREEDS.map((b) => b.dogCeo).sort());
  });

  it('serves random images of one breed, for plain and sub-breeds', async () => {
    for (const name of ['retriever-golden', 'beagle', 'terrier-yorkshire']) {
      const img = await client.randomImageOfBreed(name);
      expect(img.dogCeoName).toBe(name);
      expect(img.label).toBe(BREEDS.find((b) => b.dogCeo === name)!.label);
    }
  });

  it('answers unknown breeds with the real API 404 JSON, which the client reports with URL and status', async () => {
    const res = await fetch(`${api.url}/api/breed/wolf/images/random`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ status: 'error', message: 'Breed not found (main breed does not exist)', code: 404 });
    await expect(client.randomImageOfBreed('retriever-flatcoated')).rejects.toThrow(
      `GET ${api.url}/api/breed/retriever/flatcoated/images/random answered HTTP 404: Breed not found (sub breed does not exist)`,
    );
    const err = await client.randomImageOfBreed('wolf').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DogApiError);
    expect((err as DogApiError).status).toBe(404);
    await expect(client.randomImageOfBreed('../etc')).rejects.toThrow(/invalid Dog CEO breed name/);
  });

  it('never serves files outside the dataset', async () => {
    for (const p of ['/breeds/beagle/..%2F..%2FREADME.md', '/breeds/beagle/missing.jpg', '/breeds/nope/n02088364_10206.jpg']) {
      expect((await fetch(api.url + p)).status).toBe(404);
    }
  });

  it('supports /random/<n> and is repeatable with a seed', async () => {
    const res = (await (await fetch(`${api.url}/api/breeds/image/random/3`)).json()) as { message: string[] };
    expect(res.message).toHaveLength(3);
    const a = await startLocalDogApi({ datasetDir: DOGS_DIR, seed: 123 });
    const b = await startLocalDogApi({ datasetDir: DOGS_DIR, seed: 123 });
    try {
      const seq = async (s: LocalDogApi) => {
        const c = new DogCeoClient({ baseUrl: s.url });
        const out: string[] = [];
        for (let i = 0; i < 5; i++) out.push(new URL((await c.randomImage()).url).pathname);
        return out;
      };
      expect(await seq(a)).toEqual(await seq(b));
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('local Dog CEO API over another folder', () => {
  it('maps unknown folder names to Dog CEO names and back, and refuses empty folders', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-dogs-'));
    try {
      await expect(startLocalDogApi({ datasetDir: dir })).rejects.toThrow(/has no breed subfolders/);
      await expect(startLocalDogApi({ datasetDir: path.join(dir, 'missing') })).rejects.toThrow(/dogApi.datasetDir/);
      await fs.mkdir(path.join(dir, 'afghan_hound'));
      const photo = (await fs.readdir(path.join(DOGS_DIR, 'beagle')))[0];
      await fs.copyFile(path.join(DOGS_DIR, 'beagle', photo), path.join(dir, 'afghan_hound', 'a.jpg'));
      const api = await startLocalDogApi({ datasetDir: dir });
      try {
        const client = new DogCeoClient({ baseUrl: api.url });
        expect(await client.listBreeds()).toEqual({ hound: ['afghan'] });
        const img = await client.randomImageOfBreed(dogCeoFromLabel('afghan_hound'));
        expect(img).toEqual({ url: `${api.url}/breeds/hound-afghan/a.jpg`, dogCeoName: 'hound-afghan', label: 'afghan_hound' });
      } finally {
        await api.close();
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Dog CEO client against misbehaving servers', () => {
  let server: http.Server;
  let base: string;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/api/breeds/image/random') {
        // Never answers: the client must give up after its timeout.
        return;
      }
      if (req.url === '/api/breed/beagle/images/random') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"success","message":"https://x.test/no-breed.jpg"}');
        return;
      }
      if (req.url === '/api/breeds/list/all') {
        res.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>');
        return;
      }
      if (req.url === '/api/breed/pug/images/random') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('not json');
        return;
      }
      if (req.url === '/big.jpg') {
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': '2048' }).end(Buffer.alloc(2048));
        return;
      }
      if (req.url === '/chunked.jpg') {
        // No content-length: the limit must hold while streaming.
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        res.write(Buffer.alloc(800));
        res.end(Buffer.alloc(800));
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('times out naming the URL', async () => {
    const c = new DogCeoClient({ baseUrl: base, timeoutMs: 200 });
    await expect(c.randomImage()).rejects.toThrow(`GET ${base}/api/breeds/image/random timed out after 200 ms`);
  });

  it('reports HTTP errors, non-JSON answers, URLs without a breed, oversized images and refused connections', async () => {
    const c = new DogCeoClient({ baseUrl: base, timeoutMs: 2000, maxImageBytes: 1024 });
    await expect(c.listBreeds()).rejects.toThrow(`GET ${base}/api/breeds/list/all answered HTTP 502: <html>bad gateway</html>`);
    await expect(c.randomImageOfBreed('pug')).rejects.toThrow(/answer is not JSON/);
    await expect(c.randomImageOfBreed('beagle')).rejects.toThrow(/cannot find a breed in image URL https:\/\/x.test\/no-breed.jpg/);
    await expect(c.fetchImage(`${base}/big.jpg`)).rejects.toThrow(`GET ${base}/big.jpg: image is 2048 bytes, more than the limit of 1024`);
    await expect(c.fetchImage(`${base}/chunked.jpg`)).rejects.toThrow(
      `GET ${base}/chunked.jpg: image is more than the limit of 1024 bytes`,
    );
    expect(await new DogCeoClient({ baseUrl: base, maxImageBytes: 1600 }).fetchImage(`${base}/chunked.jpg`)).toHaveLength(1600);
    const port = await closedPort();
    const closed = new DogCeoClient({ baseUrl: `http://127.0.0.1:${port}` });
    await expect(closed.randomImage()).rejects.toThrow(
      `GET http://127.0.0.1:${port}/api/breeds/image/random failed: fetch failed (ECONNREFUSED)`,
    );
  });

  it('refuses bad base URLs and an empty configured URL with the config key', () => {
    expect(() => new DogCeoClient({ baseUrl: 'dog.ceo' })).toThrow(/invalid Dog API base URL "dog.ceo"/);
    expect(() => new DogCeoClient({ baseUrl: 'ftp://dog.ceo' })).toThrow(/expected an http\(s\) URL/);
    const config = loadConfig({ env: {} });
    expect(() => dogCeoClientFromConfig(config)).toThrow(/dogApi.baseUrl \(env CV_DOG_API_BASE_URL\)/);
    const c = dogCeoClientFromConfig(loadConfig({ env: { CV_DOG_API_BASE_URL: 'https://dog.ceo/', CV_DOG_API_TIMEOUT_MS: '1234' } }));
    expect([c.baseUrl, c.timeoutMs]).toEqual(['https://dog.ceo', 1234]);
  });

  it('the default dataset dir is ../shared/datasets/dogs relative to the repository', () => {
    expect(path.resolve(REPO_ROOT, loadConfig({ env: {} }).dogApi.datasetDir)).toBe(DOGS_DIR);
  });
});
