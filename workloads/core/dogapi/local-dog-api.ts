import Fastify, { FastifyInstance, FastifyReply } from 'fastify';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { dogCeoFromLabel } from './breeds';

/**
 * A local server with the Dog CEO API's shape over a folder of breed subfolders
 * (`<datasetDir>/<label>/*.jpg`), for machines without internet and for tests. It also
 * serves the photos at `/breeds/<dogCeoName>/<file>`, so image URLs look like the real
 * ones (`https://images.dog.ceo/breeds/retriever-golden/n02099601_3004.jpg`) and the
 * client parses the true breed from the URL exactly as it does against dog.ceo.
 */

export interface LocalDogApiOptions {
  /** Folder with one subfolder per breed; the subfolder name is the label (`golden_retriever`). */
  datasetDir: string;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Makes the sequence of random picks repeatable (tests). Unseeded picks use Math.random. */
  seed?: number;
}

export interface LocalDogApi {
  /** Base URL, e.g. `http://127.0.0.1:40123` (no trailing slash). */
  url: string;
  /** Breeds served: Dog CEO name → label and photo file names. */
  breeds: ReadonlyMap<string, { label: string; files: readonly string[] }>;
  close(): Promise<void>;
}

const IMAGE_TYPES: Record<string, string> = { '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp' };
/** The real API caps `/random/<n>` at 50. */
const MAX_RANDOM = 50;

export interface BreedEntry {
  dogCeoName: string;
  label: string;
  dir: string;
  files: string[];
}

/** Scans `<datasetDir>/<label>/` for photos; fails clearly when there is nothing to serve. */
export async function scanDataset(datasetDir: string): Promise<BreedEntry[]> {
  const root = path.resolve(datasetDir);
  let entries;
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch (err) {
    throw new Error(
      `dog dataset folder ${root} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ` +
        'set dogApi.datasetDir (env CV_DOG_API_DATASET_DIR) to a folder of breed subfolders such as ../shared/datasets/dogs',
      { cause: err },
    );
  }
  const breeds: BreedEntry[] = [];
  const seen = new Map<string, string>();
  for (const e of entries.filter((d) => d.isDirectory() && !d.name.startsWith('.')).sort((a, b) => a.name.localeCompare(b.name))) {
    const dir = path.join(root, e.name);
    const files = (await fs.readdir(dir)).filter((f) => !f.startsWith('.') && path.extname(f).toLowerCase() in IMAGE_TYPES).sort();
    if (files.length === 0) continue;
    const dogCeoName = dogCeoFromLabel(e.name);
    // Two folders mapping to one Dog CEO name would make URLs ambiguous: refuse.
    const clash = seen.get(dogCeoName);
    if (clash) throw new Error(`dog dataset folders ${clash} and ${e.name} both map to the Dog CEO breed name ${dogCeoName}`);
    seen.set(dogCeoName, e.name);
    breeds.push({ dogCeoName, label: e.name, dir, files });
  }
  if (breeds.length === 0) throw new Error(`dog dataset folder ${root} has no breed subfolders with .jpg/.png/.webp photos`);
  return breeds;
}

/** Small, fast, seedable PRNG (mulberry32): good enough for picking photos. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Builds the fastify app (not listening); `publicUrl()` gives the base of the image URLs. */
export async function buildLocalDogApi(
  options: LocalDogApiOptions,
  publicUrl: () => string,
): Promise<{ app: FastifyInstance; breeds: BreedEntry[] }> {
  const breeds = await scanDataset(options.datasetDir);
  const byName = new Map(breeds.map((b) => [b.dogCeoName, b]));
  const random = options.seed === undefined ? Math.random : seededRandom(options.seed);
  /** Every photo once, so a random image is uniform over photos, not over breeds. */
  const all = breeds.flatMap((b) => b.files.map((f) => ({ breed: b, file: f })));

  const imageUrl = (b: BreedEntry, file: string): string => `${publicUrl()}/breeds/${b.dogCeoName}/${encodeURIComponent(file)}`;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];

  const app = Fastify({ logger: false });

  const notFound = (reply: FastifyReply, message: string) => reply.code(404).send({ status: 'error', message, code: 404 });

  /** Photos of a main breed (all its sub-breeds) or of one sub-breed, as the real API groups them. */
  const photosOf = (breed: string, sub: string | undefined): { breed: BreedEntry; file: string }[] | string => {
    const main = breeds.filter((b) => b.dogCeoName === breed || b.dogCeoName.startsWith(`${breed}-`));
    if (main.length === 0) return 'Breed not found (main breed does not exist)';
    if (sub === undefined) return main.flatMap((b) => b.files.map((file) => ({ breed: b, file })));
    const one = byName.get(`${breed}-${sub}`);
    if (!one) return 'Breed not found (sub breed does not exist)';
    return one.files.map((file) => ({ breed: one, file }));
  };

  const parseCount = (raw: string | undefined): number | undefined => {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    return Number.isInteger(n) && n > 0 ? Math.min(n, MAX_RANDOM) : undefined;
  };

  const answerRandom = (
    reply: FastifyReply,
    photos: { breed: BreedEntry; file: string }[] | string,
    countRaw: string | undefined,
  ): FastifyReply | { status: string; message: string | string[] } => {
    if (typeof photos === 'string') return notFound(reply, photos);
    if (countRaw === undefined) {
      const p = pick(photos);
      return { message: imageUrl(p.breed, p.file), status: 'success' };
    }
    const count = parseCount(countRaw);
    if (count === undefined)
      return reply.code(400).send({ status: 'error', message: `count must be a whole number from 1 to ${MAX_RANDOM}`, code: 400 });
    return { message: Array.from({ length: count }, () => pick(photos)).map((p) => imageUrl(p.breed, p.file)), status: 'success' };
  };

  app.get('/api/breeds/list/all', async () => {
    const message: Record<string, string[]> = {};
    for (const b of breeds) {
      const [breed, sub] = b.dogCeoName.split('-');
      message[breed] ??= [];
      if (sub) message[breed].push(sub);
    }
    for (const subs of Object.values(message)) subs.sort();
    return { message: Object.fromEntries(Object.entries(message).sort(([a], [b]) => a.localeCompare(b))), status: 'success' };
  });

  // The plain random endpoint deals from a shuffled deck: still uniformly random per call,
  // but every photo comes up once before any repeats, so a local loop ingests the whole
  // dataset in as many calls as it has photos (drawing with replacement would need ~8×).
  const deck: { breed: BreedEntry; file: string }[] = [];
  const deal = (): { breed: BreedEntry; file: string } => {
    if (deck.length === 0) {
      deck.push(...all);
      for (let i = deck.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [deck[i], deck[j]] = [deck[j], deck[i]];
      }
    }
    return deck.pop()!;
  };
  app.get('/api/breeds/image/random', async (_req, reply) => {
    if (all.length === 0) return notFound(reply, 'No photos in the dataset');
    const p = deal();
    return { message: imageUrl(p.breed, p.file), status: 'success' };
  });
  app.get<{ Params: { count: string } }>('/api/breeds/image/random/:count', async (req, reply) =>
    answerRandom(reply, all, req.params.count),
  );

  app.get<{ Params: { breed: string } }>('/api/breed/:breed/images/random', async (req, reply) =>
    answerRandom(reply, photosOf(req.params.breed, undefined), undefined),
  );
  app.get<{ Params: { breed: string; count: string } }>('/api/breed/:breed/images/random/:count', async (req, reply) =>
    answerRandom(reply, photosOf(req.params.breed, undefined), req.params.count),
  );
  app.get<{ Params: { breed: string; sub: string } }>('/api/breed/:breed/:sub/images/random', async (req, reply) =>
    answerRandom(reply, photosOf(req.params.breed, req.params.sub), undefined),
  );
  app.get<{ Params: { breed: string; sub: string; count: string } }>('/api/breed/:breed/:sub/images/random/:count', async (req, reply) =>
    answerRandom(reply, photosOf(req.params.breed, req.params.sub), req.params.count),
  );

  const listAll = (reply: FastifyReply, photos: { breed: BreedEntry; file: string }[] | string) =>
    typeof photos === 'string' ? notFound(reply, photos) : { message: photos.map((p) => imageUrl(p.breed, p.file)), status: 'success' };
  app.get<{ Params: { breed: string } }>('/api/breed/:breed/images', async (req, reply) =>
    listAll(reply, photosOf(req.params.breed, undefined)),
  );
  app.get<{ Params: { breed: string; sub: string } }>('/api/breed/:breed/:sub/images', async (req, reply) =>
    listAll(reply, photosOf(req.params.breed, req.params.sub)),
  );

  app.get<{ Params: { name: string; file: string } }>('/breeds/:name/:file', async (req, reply) => {
    const b = byName.get(req.params.name);
    // Only names from the scan are served, so no request can reach outside the dataset.
    if (!b || !b.files.includes(req.params.file)) return notFound(reply, `No image ${req.params.name}/${req.params.file}`);
    const bytes = await fs.readFile(path.join(b.dir, req.params.file));
    return reply
      .type(IMAGE_TYPES[path.extname(req.params.file).toLowerCase()])
      .header('cache-control', 'public, max-age=86400')
      .send(bytes);
  });

  app.setNotFoundHandler((req, reply) => notFound(reply, `No route found for "${req.method} ${req.url}" with code: 0`));
  return { app, breeds };
}

/** Starts the server; `close()` stops it. */
export async function startLocalDogApi(options: LocalDogApiOptions): Promise<LocalDogApi> {
  let base = '';
  const { app, breeds } = await buildLocalDogApi(options, () => base);
  const host = options.host ?? '127.0.0.1';
  await app.listen({ port: options.port ?? 0, host });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error(`local dog API did not get a TCP address (got ${String(addr)})`);
  // Image URLs must be fetchable by clients: name a wildcard bind by the loopback address.
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  base = `http://${shownHost}:${addr.port}`;
  const served = new Map(breeds.map((b) => [b.dogCeoName, { label: b.label, files: b.files as readonly string[] }]));
  return { url: base, breeds: served, close: () => app.close() };
}
