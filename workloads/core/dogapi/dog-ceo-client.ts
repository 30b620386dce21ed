import { z } from 'zod';
import type { WorkloadConfig } from '../config/schema';
import { BREEDS, dogCeoBreedFromImageUrl, dogCeoFromLabel, labelFromDogCeo } from './breeds';

/**
 * A client for the Dog CEO API (https://dog.ceo/dog-api/) — or anything with its shape,
 * such as the local server in ./local-dog-api.ts. The true breed of a random image is not
 * in the JSON answer, only in the image URL path (`/breeds/retriever-golden/x.jpg`), so
 * every image this client returns carries the label parsed from its URL.
 *
 * The API is not trusted with where the service connects to: an image URL must be https
 * on an allowed host (`imageHosts`, images.dog.ceo by default; the local server's own
 * origin when the API is on this machine), redirects are never followed, and a random
 * image must be of an accepted breed. Error messages name the upstream answer for the
 * log; the service never passes them to its clients.
 */

/** A random dog photo and its breed, as told by the image URL. */
export interface DogImage {
  url: string;
  /** Dog CEO breed name from the URL (`retriever-golden`). */
  dogCeoName: string;
  /** Our label for it (`golden_retriever`), see ./breeds.ts. */
  label: string;
}

export interface DogCeoClientOptions {
  /** Base URL of the API, e.g. `https://dog.ceo` or `http://127.0.0.1:8090`. */
  baseUrl: string;
  /** Per-request time limit (connect + headers + body). */
  timeoutMs?: number;
  /** Refuse image downloads larger than this many bytes. */
  maxImageBytes?: number;
  /** Hosts image URLs may point at, over https (default: images.dog.ceo). */
  imageHosts?: readonly string[];
  /** Labels a random image may have (default: the breed table, ./breeds.ts). */
  breeds?: readonly string[];
}

const DEFAULT_IMAGE_HOSTS = ['images.dog.ceo'];

/** A server on this machine (the local stand-in for the Dog CEO API): its own origin serves its images. */
function isLoopback(url: URL): boolean {
  return url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}

/** An API answer that is not what the Dog CEO API promises, or an HTTP/network failure. */
export class DogApiError extends Error {
  constructor(
    message: string,
    readonly url: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'DogApiError';
  }
}

const imageAnswer = z.object({ status: z.literal('success'), message: z.url() });
const breedsAnswer = z.object({ status: z.literal('success'), message: z.record(z.string(), z.array(z.string())) });
const errorAnswer = z.object({ message: z.string() }).partial();

/** Dog CEO names are `breed` or `breed-subbreed`, lower-case letters only in the real API. */
const DOG_CEO_NAME = /^[a-z0-9]+(-[a-z0-9]+)?$/;

export class DogCeoClient {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly maxImageBytes: number;
  /** Origins image URLs may point at (`https://<host>`, plus a loopback API's own origin). */
  readonly imageOrigins: ReadonlySet<string>;
  readonly breeds: ReadonlySet<string>;

  constructor(options: DogCeoClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.baseUrl);
    } catch {
      throw new Error(`invalid Dog API base URL ${JSON.stringify(options.baseUrl)}: expected an http(s) URL such as https://dog.ceo`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new Error(`invalid Dog API base URL ${JSON.stringify(options.baseUrl)}: expected an http(s) URL such as https://dog.ceo`);
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxImageBytes = options.maxImageBytes ?? 15 * 1024 * 1024;
    const origins = (options.imageHosts ?? DEFAULT_IMAGE_HOSTS).map((h) => `https://${h.toLowerCase()}`);
    if (isLoopback(parsed)) origins.push(parsed.origin);
    this.imageOrigins = new Set(origins);
    this.breeds = new Set(options.breeds?.length ? options.breeds : BREEDS.map((b) => b.label));
  }

  /**
   * GET /api/breeds/image/random, of an accepted breed: when the API picks another breed
   * (the real one knows ~120), one image of a randomly chosen accepted breed instead.
   */
  async randomImage(): Promise<DogImage> {
    const any = await this.imageFrom(`${this.baseUrl}/api/breeds/image/random`);
    if (this.breeds.has(any.label)) return any;
    const accepted = [...this.breeds];
    const pick = await this.randomImageOfBreed(dogCeoFromLabel(accepted[Math.floor(Math.random() * accepted.length)]));
    if (!this.breeds.has(pick.label)) {
      throw new DogApiError(
        `the Dog API sent an image of breed ${JSON.stringify(pick.dogCeoName)}, which is not an accepted breed`,
        pick.url,
      );
    }
    return pick;
  }

  /** GET /api/breed/<breed>[/<sub>]/images/random for a Dog CEO name such as `retriever-golden`. */
  async randomImageOfBreed(dogCeoName: string): Promise<DogImage> {
    if (!DOG_CEO_NAME.test(dogCeoName)) {
      throw new Error(
        `invalid Dog CEO breed name ${JSON.stringify(dogCeoName)}: expected "breed" or "breed-subbreed", e.g. retriever-golden`,
      );
    }
    const [breed, sub] = dogCeoName.split('-');
    const path = sub ? `/api/breed/${breed}/${sub}/images/random` : `/api/breed/${breed}/images/random`;
    return this.imageFrom(this.baseUrl + path);
  }

  /** GET /api/breeds/list/all → `{ breed: [sub-breeds] }`. */
  async listBreeds(): Promise<Record<string, string[]>> {
    const url = `${this.baseUrl}/api/breeds/list/all`;
    return parseAnswer(url, breedsAnswer, await this.getJson(url)).message;
  }

  /** Every breed as a Dog CEO name (`breed` or `breed-sub`), sorted. */
  async listBreedNames(): Promise<string[]> {
    const all = await this.listBreeds();
    return Object.entries(all)
      .flatMap(([breed, subs]) => (subs.length ? subs.map((s) => `${breed}-${s}`) : [breed]))
      .sort();
  }

  /** Downloads an image's bytes from an allowed origin, refusing answers over `maxImageBytes`. */
  async fetchImage(url: string): Promise<Buffer> {
    this.checkImageUrl(url);
    const res = await this.get(url, 'image/*');
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > this.maxImageBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw new DogApiError(`GET ${url}: image is ${declared} bytes, more than the limit of ${this.maxImageBytes}`, url, res.status);
    }
    // Count while reading: content-length can be absent or wrong.
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        total += chunk.byteLength;
        if (total > this.maxImageBytes) {
          await res.body?.cancel().catch(() => undefined);
          throw new DogApiError(`GET ${url}: image is more than the limit of ${this.maxImageBytes} bytes`, url, res.status);
        }
        chunks.push(Buffer.from(chunk));
      }
    } catch (err) {
      throw this.wrap(url, err);
    }
    return Buffer.concat(chunks);
  }

  private async imageFrom(url: string): Promise<DogImage> {
    const imageUrl = parseAnswer(url, imageAnswer, await this.getJson(url)).message;
    let dogCeoName: string;
    try {
      dogCeoName = dogCeoBreedFromImageUrl(imageUrl);
    } catch (err) {
      throw new DogApiError(`GET ${url}: ${(err as Error).message}`, url);
    }
    this.checkImageUrl(imageUrl);
    return { url: imageUrl, dogCeoName, label: labelFromDogCeo(dogCeoName) };
  }

  /** An image URL must be https on an allowed host (or the loopback API's own origin): anything else could reach internal addresses. */
  private checkImageUrl(url: string): void {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new DogApiError(`image URL ${JSON.stringify(url.slice(0, 200))} is not a URL`, url);
    }
    if (!this.imageOrigins.has(parsed.origin) || parsed.username || parsed.password) {
      throw new DogApiError(`image URL ${url.slice(0, 200)} is not on an allowed origin (${[...this.imageOrigins].join(', ')})`, url);
    }
  }

  private async getJson(url: string): Promise<unknown> {
    const res = await this.get(url, 'application/json');
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw this.wrap(url, err);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new DogApiError(`GET ${url}: answer is not JSON (${JSON.stringify(text.slice(0, 80))})`, url, res.status);
    }
  }

  /** A GET that resolves only on 2xx; everything else becomes a DogApiError naming the URL. */
  private async get(url: string, accept: string): Promise<Response> {
    let res: Response;
    try {
      // A redirect could lead anywhere (a metadata server, an internal address): never followed.
      res = await fetch(url, { headers: { accept }, redirect: 'manual', signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw this.wrap(url, err);
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => undefined);
      throw new DogApiError(`GET ${url} answered a redirect (HTTP ${res.status}); redirects are not followed`, url, res.status);
    }
    if (!res.ok) {
      const body = await res.text().catch(() => '');
      let detail = body.slice(0, 200);
      try {
        detail = errorAnswer.parse(JSON.parse(body)).message ?? detail;
      } catch {
        /* not a JSON error body: keep the text */
      }
      throw new DogApiError(`GET ${url} answered HTTP ${res.status}${detail ? `: ${detail}` : ''}`, url, res.status);
    }
    return res;
  }

  private wrap(url: string, err: unknown): DogApiError {
    if (err instanceof DogApiError) return err;
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') {
      return new DogApiError(`GET ${url} timed out after ${this.timeoutMs} ms`, url);
    }
    const cause = e.cause?.code ?? e.cause?.message;
    return new DogApiError(`GET ${url} failed: ${e.message}${cause ? ` (${cause})` : ''}`, url);
  }
}

function parseAnswer<T>(url: string, schema: z.ZodType<T>, body: unknown): T {
  const res = schema.safeParse(body);
  if (!res.success) {
    const shown = JSON.stringify(body);
    throw new DogApiError(
      `GET ${url}: unexpected answer ${shown.length > 120 ? `${shown.slice(0, 117)}...` : shown}; ` +
        `expected {"status":"success","message":...} as the Dog CEO API answers`,
      url,
    );
  }
  return res.data;
}

/** A client for the configured Dog API; `baseUrl` must be set (the local server's URL when running locally). */
export function dogCeoClientFromConfig(config: Pick<WorkloadConfig, 'dogApi' | 'images'>, baseUrl = config.dogApi.baseUrl): DogCeoClient {
  if (!baseUrl) {
    throw new Error(
      'config key dogApi.baseUrl (env CV_DOG_API_BASE_URL) is empty: set it to https://dog.ceo, or start the local server ' +
        '(startLocalDogApi / `npx tsx workloads/core/dogapi/serve.ts`) and pass its URL',
    );
  }
  return new DogCeoClient({
    baseUrl,
    timeoutMs: config.dogApi.timeoutMs,
    maxImageBytes: config.images.maxBytes,
    imageHosts: config.dogApi.imageHosts,
    breeds: config.dogApi.breeds,
  });
}
