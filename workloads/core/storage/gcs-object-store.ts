import type { Bucket, File, Storage } from '@google-cloud/storage';
import { NotFoundError, ObjectInfo, ObjectStore, PreconditionFailedError, WriteOptions } from './object-store';

/**
 * A GCS bucket through @google-cloud/storage. Atomicity comes from GCS itself (an object
 * appears whole or not at all); conditional writes use `ifGenerationMatch` preconditions,
 * which GCS answers with 412 when another writer got there first.
 */
export class GcsObjectStore implements ObjectStore {
  private readonly bucket: Bucket;

  constructor(
    storage: Storage,
    readonly bucketName: string,
  ) {
    this.bucket = storage.bucket(bucketName);
  }

  uri(key: string): string {
    return `gs://${this.bucketName}/${key}`;
  }

  async read(key: string): Promise<Buffer> {
    const found = await this.readIfExists(key);
    if (!found) throw new NotFoundError(this.uri(key));
    return found.data;
  }

  async readIfExists(key: string): Promise<{ data: Buffer; info: ObjectInfo } | undefined> {
    // Read the exact generation we stat'ed so data and generation agree. If another writer
    // replaced the object in between, that generation is gone (404): stat again.
    for (let attempt = 1; ; attempt++) {
      const info = await this.stat(key);
      if (!info) return undefined;
      try {
        // Generations are int64: keep them as strings, never round them through a double.
        const [data] = await this.bucket.file(key, { generation: info.generation }).download();
        return { data, info };
      } catch (err) {
        if (codeOf(err) !== 404) throw err;
        if (attempt >= 5) throw new Error(`${this.uri(key)} kept changing while being read (5 attempts)`, { cause: err });
      }
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const [meta] = await this.bucket.file(key).getMetadata();
      return toInfo(key, meta);
    } catch (err) {
      if (codeOf(err) === 404) return undefined;
      throw err;
    }
  }

  async write(key: string, data: Buffer | string, options: WriteOptions = {}): Promise<ObjectInfo> {
    const file: File = this.bucket.file(key);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const match = options.ifGenerationMatch;
    if (match !== undefined && !/^\d+$/.test(match)) {
      // GCS generations are decimal int64s; anything else (e.g. a local content hash) can never match.
      throw new Error(
        `invalid ifGenerationMatch ${JSON.stringify(match)} for ${this.uri(key)}: expected a GCS generation number, or '0' for "only if absent"`,
      );
    }
    try {
      // resumable: false → one multipart request, so the object appears whole or not at all.
      await file.save(bytes, {
        resumable: false,
        contentType: options.contentType ?? 'application/octet-stream',
        preconditionOpts: match !== undefined ? { ifGenerationMatch: match } : undefined,
      });
    } catch (err) {
      if (codeOf(err) === 412) {
        const current = await this.stat(key);
        throw new PreconditionFailedError(this.uri(key), options.ifGenerationMatch ?? '', current?.generation);
      }
      throw err;
    }
    return toInfo(key, file.metadata);
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const [files] = await this.bucket.getFiles({ prefix, autoPaginate: true });
    return files.map((f) => toInfo(f.name, f.metadata)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    await this.bucket.file(key).delete({ ignoreNotFound: true });
  }
}

function toInfo(key: string, meta: { size?: string | number; generation?: string | number; updated?: string }): ObjectInfo {
  return {
    key,
    size: Number(meta.size ?? 0),
    generation: String(meta.generation ?? ''),
    updated: meta.updated ? new Date(meta.updated) : new Date(0),
  };
}

function codeOf(err: unknown): number | undefined {
  const e = err as { code?: number | string };
  return typeof e.code === 'number' ? e.code : e.code !== undefined ? Number(e.code) : undefined;
}
