import { crc32c } from '@node-rs/crc32';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * A local stand-in for the few GCS JSON API endpoints GcsObjectStore uses, so the real
 * @google-cloud/storage client can be pointed at it and its requests asserted:
 *   GET    /storage/v1/b/:bucket/o/:object            metadata (or bytes with ?alt=media)
 *   GET    /download/storage/v1/b/:bucket/o/:object   bytes (?alt=media)
 *   POST   /upload/storage/v1/b/:bucket/o             uploadType=multipart|media, name, ifGenerationMatch
 *   GET    /storage/v1/b/:bucket/o                    list: prefix, pageToken, maxResults (pages of PAGE_SIZE)
 *   DELETE /storage/v1/b/:bucket/o/:object
 * Anything else answers 501 so an unexpected request fails the test loudly. Clients pointed at it with
 * STORAGE_EMULATOR_HOST=<url> (no apiEndpoint) send `/b/...` for `/storage/v1/b/...`: both are served.
 */

export interface StoredObject {
  data: Buffer;
  generation: string;
  metageneration: string;
  contentType: string;
  updated: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  /** For uploads: the object metadata part (multipart) and the media bytes. */
  uploadMetadata?: Record<string, unknown>;
  media?: Buffer;
}

/** Small pages by default, so listing exercises the client's pagination. */
const PAGE_SIZE = 2;

export class GcsStandIn {
  /** `pageSize`: objects per list page (GCS serves up to 1000). */
  constructor(private readonly options: { pageSize?: number } = {}) {}
  readonly objects = new Map<string, StoredObject>();
  readonly requests: RecordedRequest[] = [];
  private nextGeneration = 1763900000000001n;
  private server?: http.Server;
  url = '';
  /** Called before each request is answered (tests use it to simulate another writer). */
  beforeHandle?: (req: RecordedRequest) => void;

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          this.handle(req, Buffer.concat(chunks), res);
        } catch (err) {
          sendError(res, 500, (err as Error).message);
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  /** Puts an object directly (as another writer would). */
  put(bucket: string, name: string, data: Buffer | string, contentType = 'application/octet-stream'): StoredObject {
    const obj: StoredObject = {
      data: typeof data === 'string' ? Buffer.from(data) : data,
      generation: String(this.nextGeneration++),
      metageneration: '1',
      contentType,
      updated: new Date().toISOString(),
    };
    this.objects.set(`${bucket}/${name}`, obj);
    return obj;
  }

  private handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname.startsWith('/b/')) url.pathname = `/storage/v1${url.pathname}`;
    const query = Object.fromEntries(url.searchParams);
    const record: RecordedRequest = { method: req.method!, path: url.pathname, query, headers: req.headers };
    this.requests.push(record);
    this.beforeHandle?.(record);
    // Object names are one percent-encoded path segment (`a%2Fb.json`).
    const objectPath = /^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/([^/]+)$/.exec(url.pathname);
    const listPath = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
    const uploadPath = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);

    if (objectPath && req.method === 'GET') {
      const [bucket, name] = [decodeURIComponent(objectPath[1]), decodeURIComponent(objectPath[2])];
      const obj = this.objects.get(`${bucket}/${name}`);
      if (!obj || (query.generation && query.generation !== obj.generation))
        return sendError(res, 404, `No such object: ${bucket}/${name}`);
      if (query.alt === 'media') {
        res.writeHead(200, {
          'content-type': obj.contentType,
          'content-length': String(obj.data.length),
          'x-goog-generation': obj.generation,
          'x-goog-hash': `crc32c=${crc32cBase64(obj.data)},md5=${md5Base64(obj.data)}`,
          'x-goog-stored-content-encoding': 'identity',
        });
        return void res.end(obj.data);
      }
      return sendJson(res, 200, resource(bucket, name, obj));
    }
    if (objectPath && req.method === 'DELETE') {
      const key = `${decodeURIComponent(objectPath[1])}/${decodeURIComponent(objectPath[2])}`;
      if (!this.objects.delete(key)) return sendError(res, 404, `No such object: ${key}`);
      res.writeHead(204);
      return void res.end();
    }
    if (listPath && req.method === 'GET') {
      const bucket = decodeURIComponent(listPath[1]);
      const prefix = query.prefix ?? '';
      const names = [...this.objects.keys()]
        .filter((k) => k.startsWith(`${bucket}/`))
        .map((k) => k.slice(bucket.length + 1))
        .filter((n) => n.startsWith(prefix))
        .sort();
      const start = query.pageToken ? Number(query.pageToken) : 0;
      const pageSize = this.options.pageSize ?? PAGE_SIZE;
      const size = Math.min(Number(query.maxResults ?? pageSize), pageSize);
      const page = names.slice(start, start + size);
      const next = start + size < names.length ? String(start + size) : undefined;
      return sendJson(res, 200, {
        kind: 'storage#objects',
        items: page.map((n) => resource(bucket, n, this.objects.get(`${bucket}/${n}`)!)),
        ...(next ? { nextPageToken: next } : {}),
      });
    }
    if (uploadPath && req.method === 'POST') {
      const bucket = decodeURIComponent(uploadPath[1]);
      let metadata: Record<string, unknown> = {};
      let media: Buffer;
      if (query.uploadType === 'multipart') {
        ({ metadata, media } = parseMultipart(req.headers['content-type'] ?? '', body));
      } else if (query.uploadType === 'media') {
        media = body;
      } else {
        return sendError(res, 501, `stand-in supports uploadType multipart and media, not ${query.uploadType}`);
      }
      record.uploadMetadata = metadata;
      record.media = media;
      const name = query.name ?? (metadata.name as string | undefined);
      if (!name) return sendError(res, 400, 'Required parameter: name');
      const current = this.objects.get(`${bucket}/${name}`);
      if (query.ifGenerationMatch !== undefined) {
        const ok = query.ifGenerationMatch === '0' ? current === undefined : current?.generation === query.ifGenerationMatch;
        if (!ok) return sendError(res, 412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet');
      }
      const contentType = (metadata.contentType as string | undefined) ?? req.headers['content-type'] ?? 'application/octet-stream';
      const obj = this.put(bucket, name, media, contentType);
      return sendJson(res, 200, resource(bucket, name, obj));
    }
    return sendError(res, 501, `stand-in does not implement ${req.method} ${url.pathname}`);
  }
}

function resource(bucket: string, name: string, obj: StoredObject): Record<string, unknown> {
  return {
    kind: 'storage#object',
    id: `${bucket}/${name}/${obj.generation}`,
    name,
    bucket,
    generation: obj.generation,
    metageneration: obj.metageneration,
    contentType: obj.contentType,
    size: String(obj.data.length),
    updated: obj.updated,
    timeCreated: obj.updated,
    md5Hash: md5Base64(obj.data),
    crc32c: crc32cBase64(obj.data),
  };
}

function crc32cBase64(data: Buffer): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32c(data) >>> 0);
  return b.toString('base64');
}

function md5Base64(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(body));
}

function sendError(res: http.ServerResponse, code: number, message: string, reason = 'notFound'): void {
  sendJson(res, code, { error: { code, message, errors: [{ message, domain: 'global', reason }] } });
}

/** multipart/related: a JSON metadata part, then the media part. */
function parseMultipart(contentType: string, body: Buffer): { metadata: Record<string, unknown>; media: Buffer } {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!boundary) throw new Error(`multipart upload without a boundary: ${contentType}`);
  const parts: Buffer[] = [];
  const delim = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delim);
  while (pos !== -1) {
    const next = body.indexOf(delim, pos + delim.length);
    if (next === -1) break;
    parts.push(body.subarray(pos + delim.length, next));
    pos = next;
  }
  const [metaPart, mediaPart] = parts.map((p) => {
    const headerEnd = p.indexOf('\r\n\r\n');
    // Strip the CRLF after the delimiter line and the CRLF before the next delimiter.
    return p.subarray(headerEnd + 4, p.length - 2);
  });
  if (!metaPart || !mediaPart) throw new Error(`multipart upload with ${parts.length} parts; expected metadata and media`);
  return { metadata: JSON.parse(metaPart.toString('utf8')) as Record<string, unknown>, media: Buffer.from(mediaPart) };
}
