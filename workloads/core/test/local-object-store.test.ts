import { ChildProcess, execFile, spawn } from 'node:child_process';
import { promises as fs, watch } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { generationOf, LocalObjectStore } from '../storage/local-object-store';
import { NotFoundError, PreconditionFailedError, readJson, writeJson } from '../storage/object-store';
import { openDataLake } from '../storage/data-lake';
import { loadConfig } from '../config/load';
import { modelKeys, rawKeys } from '../layout';

const WRITER = path.join(__dirname, 'fixtures', 'store-writer.ts');
const run = promisify(execFile);

/** Runs the writer fixture in its own Node process (TypeScript through tsx). */
function spawnWriter(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', WRITER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('LocalObjectStore', () => {
  let root: string;
  let store: LocalObjectStore;

  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-store-'));
    store = new LocalObjectStore(root);
  });
  afterEach(() => fs.rm(root, { recursive: true, force: true }));

  it('round-trips bytes, strings and JSON, and reports generations that change on every different write', async () => {
    const bytes = Buffer.from([0, 1, 2, 255]);
    const info = await store.write('images/a.jpg', bytes);
    expect(info).toMatchObject({ key: 'images/a.jpg', size: 4, generation: generationOf(bytes) });
    expect(await store.read('images/a.jpg')).toEqual(bytes);
    expect(await fs.readFile(path.join(root, 'images', 'a.jpg'))).toEqual(bytes);

    await store.write('notes/b.txt', 'héllo');
    expect((await store.read('notes/b.txt')).toString('utf8')).toBe('héllo');

    await writeJson(store, 'registry/production.json', { version: 'v1' });
    expect(await readJson(store, 'registry/production.json')).toEqual({ version: 'v1' });
    expect(await readJson(store, 'registry/missing.json')).toBeUndefined();

    const before = await store.stat('images/a.jpg');
    await store.write('images/a.jpg', Buffer.from('other'));
    const after = await store.stat('images/a.jpg');
    expect(after!.generation).not.toBe(before!.generation);
    expect(store.uri('images/a.jpg')).toBe(`file://${path.join(root, 'images', 'a.jpg')}`);
  });

  it('reports missing objects: read throws NotFoundError naming the URI, the others answer undefined', async () => {
    await expect(store.read('nope/x')).rejects.toThrow(NotFoundError);
    await expect(store.read('nope/x')).rejects.toThrow(`object not found: ${store.uri('nope/x')}`);
    expect(await store.readIfExists('nope/x')).toBeUndefined();
    expect(await store.stat('nope/x')).toBeUndefined();
    await store.delete('nope/x'); // deleting what is absent is fine
  });

  it('reads small objects (synchronously) and large ones (asynchronously) byte for byte, and a folder as an error', async () => {
    for (const size of [0, 1, 256 * 1024, 256 * 1024 + 1, 3 * 1024 * 1024]) {
      const bytes = Buffer.alloc(size, size % 251);
      await store.write(`blobs/${size}.bin`, bytes);
      expect((await store.read(`blobs/${size}.bin`)).equals(bytes)).toBe(true);
      expect((await store.readIfExists(`blobs/${size}.bin`))?.info).toMatchObject({ size, generation: generationOf(bytes) });
    }
    await expect(store.read('blobs')).rejects.toThrow(/EISDIR/);
  });

  it('lists a folder of more objects than one stat batch, each with its size', async () => {
    const n = 1_234; // the stat batch is 1,000
    await Promise.all(Array.from({ length: n }, (_, i) => store.write(`labels/${String(i).padStart(5, '0')}.json`, 'x'.repeat(i % 7))));
    const listed = await store.list('labels/');
    expect(listed.map((o) => o.key)).toEqual(Array.from({ length: n }, (_, i) => `labels/${String(i).padStart(5, '0')}.json`));
    expect(listed.map((o) => o.size)).toEqual(Array.from({ length: n }, (_, i) => i % 7));
  });

  it('lists by prefix, sorted, across folders, without temp or lock files', async () => {
    for (const k of ['labels/b.json', 'labels/a.json', 'images/x.jpg', 'images/sub/y.jpg', 'imagesextra/z.jpg', 'top.json']) {
      await store.write(k, k);
    }
    // Leftovers of a crashed writer must stay invisible.
    await fs.writeFile(path.join(root, 'images', '.tmp-x.jpg-abcdef'), 'partial');
    await fs.writeFile(path.join(root, 'images', 'x.jpg.lock'), '');
    const keys = async (p: string) => (await store.list(p)).map((o) => o.key);
    expect(await keys('labels/')).toEqual(['labels/a.json', 'labels/b.json']);
    expect(await keys('images/')).toEqual(['images/sub/y.jpg', 'images/x.jpg']);
    expect(await keys('images')).toEqual(['images/sub/y.jpg', 'images/x.jpg', 'imagesextra/z.jpg']);
    expect(await keys('labels/a')).toEqual(['labels/a.json']);
    expect(await keys('')).toHaveLength(6);
    expect(await keys('missing/')).toEqual([]);
    const [one] = await store.list('top.json');
    expect(one.size).toBe('top.json'.length);

    await store.delete('labels/a.json');
    expect(await keys('labels/')).toEqual(['labels/b.json']);
  });

  it('rejects keys that would escape the bucket directory', async () => {
    for (const bad of ['../x', '/abs', 'a//b', 'a/./b', '']) {
      await expect(store.write(bad, 'x')).rejects.toThrow(/invalid object key/);
    }
  });

  it('honours preconditions: 0 means only if absent, otherwise the current generation', async () => {
    const first = await store.write('registry/production.json', 'v1', { ifGenerationMatch: '0' });
    const err = await store.write('registry/production.json', 'v2', { ifGenerationMatch: '0' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreconditionFailedError);
    expect((err as PreconditionFailedError).actual).toBe(first.generation);
    expect((err as Error).message).toMatch(
      /precondition failed for file:.*production.json: expected generation \(absent\), found [0-9a-f]+/,
    );

    await expect(store.write('registry/production.json', 'v2', { ifGenerationMatch: 'stale' })).rejects.toThrow(PreconditionFailedError);
    expect((await store.read('registry/production.json')).toString()).toBe('v1');
    const second = await store.write('registry/production.json', 'v2', { ifGenerationMatch: first.generation });
    expect((await store.read('registry/production.json')).toString()).toBe('v2');
    expect((await store.stat('registry/production.json'))!.generation).toBe(second.generation);
  });

  it('lets exactly one of many concurrent conditional writers win (same process)', async () => {
    const base = await store.write('registry/production.json', 'v0');
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => store.write('registry/production.json', `v${i + 1}`, { ifGenerationMatch: base.generation })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError);
    const winner = (won[0] as PromiseFulfilledResult<{ generation: string }>).value;
    expect((await store.stat('registry/production.json'))!.generation).toBe(winner.generation);

    // Create-only writers (link(2), no lock) into a folder that does not exist yet.
    const absent = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => store.write(`fresh/${rawKeys.label('img0')}`, `label${i}`, { ifGenerationMatch: '0' })),
    );
    const created = absent.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ generation: string }>[];
    expect(created).toHaveLength(1);
    for (const r of absent) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError);
    expect((await store.stat(`fresh/${rawKeys.label('img0')}`))!.generation).toBe(created[0].value.generation);
    // The losers' temp files are gone.
    expect(await fs.readdir(path.dirname(path.join(root, 'fresh', rawKeys.label('img0'))))).toEqual([path.basename(rawKeys.label('img0'))]);
  });

  it('lets exactly one of two conditional writers in different processes win', async () => {
    const key = modelKeys.pointer('production');
    const base = await store.write(key, 'v0');
    const at = String(Date.now() + 1500);
    const outcomes = await Promise.all(
      ['A', 'B'].map((who) =>
        run(process.execPath, ['--import', 'tsx', WRITER, 'cas', root, key, base.generation, `v-${who}`, at]).then(
          (r) => JSON.parse(r.stdout) as { won: boolean },
        ),
      ),
    );
    expect(outcomes.filter((o) => o.won)).toHaveLength(1);
    expect(['v-A', 'v-B']).toContain((await store.read(key)).toString());
    // No lock file is left behind.
    expect((await fs.readdir(path.dirname(path.join(root, key)))).filter((f) => f.endsWith('.lock'))).toEqual([]);
  });

  it('keeps the old object whole when the writer is killed mid-write (SIGKILL)', async () => {
    const key = 'datasets/big.bin';
    const old = Buffer.from('the old, complete object');
    await store.write(key, old);
    const dir = path.join(root, 'datasets');

    // Kill the writer as soon as its temp file holds some bytes but not all; retry with
    // a bigger object if the disk was fast enough to finish first.
    let killedMidWrite = false;
    for (let size = 256 * 1024 * 1024; !killedMidWrite && size <= 1024 * 1024 * 1024; size *= 2) {
      const child = spawnWriter(['big', root, key, String(size)]);
      const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, signal) => r(signal)));
      const partialSize = await new Promise<number>((resolve) => {
        const watcher = watch(dir);
        const check = async (): Promise<void> => {
          const temps = (await fs.readdir(dir)).filter((f) => f.startsWith('.tmp-'));
          for (const t of temps) {
            const st = await fs.stat(path.join(dir, t)).catch(() => undefined);
            if (st && st.size > 0 && st.size < size) {
              child.kill('SIGKILL');
              watcher.close();
              clearInterval(timer);
              resolve(st.size);
              return;
            }
          }
        };
        const timer = setInterval(() => void check(), 1);
        watcher.on('change', () => void check());
        void exited.then(() => {
          watcher.close();
          clearInterval(timer);
          resolve(-1);
        });
      });
      const signal = await exited;
      if (partialSize > 0 && signal === 'SIGKILL') {
        killedMidWrite = true;
        // The crash left a partial temp file behind; readers must not see it.
        const temps = (await fs.readdir(dir)).filter((f) => f.startsWith('.tmp-'));
        expect(temps.length).toBe(1);
        expect((await fs.stat(path.join(dir, temps[0]))).size).toBeLessThan(size);
      } else {
        await store.write(key, old); // the writer finished: restore and try bigger
      }
    }
    expect(killedMidWrite).toBe(true);
    expect(await store.read(key)).toEqual(old);
    expect((await store.list('datasets/')).map((o) => [o.key, o.size])).toEqual([[key, old.length]]);
  });
});

describe('openDataLake', () => {
  it('maps every logical bucket to a directory under the data root', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-lake-'));
    try {
      const lake = openDataLake(loadConfig({ env: { CV_DATA_ROOT: root, CV_STORAGE_BUCKETS_MODELS: 'my-models' } }));
      await lake.models.write('registry/production.json', '{}');
      await lake.raw.write('images/a.jpg', 'x');
      expect(await fs.readFile(path.join(root, 'my-models', 'registry', 'production.json'), 'utf8')).toBe('{}');
      expect(await fs.readFile(path.join(root, 'raw', 'images', 'a.jpg'), 'utf8')).toBe('x');
      expect(Object.keys(lake).sort()).toEqual(['datasets', 'models', 'pipeline', 'raw']);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
