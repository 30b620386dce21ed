import { createHash } from 'node:crypto';
import { NotFoundError, ObjectInfo, ObjectStore } from '../../core/storage/object-store';

/**
 * A read-only ObjectStore over files held in memory. The main thread reads a model
 * version's small files (head, labels, metadata) from the real models bucket and ships
 * them to each inference worker, which loads the classifier from this store. Workers
 * therefore need no storage credentials or configuration, and every worker loads exactly
 * the bytes the main thread saw.
 */
export class MemoryObjectStore implements ObjectStore {
  private readonly files: Map<string, Buffer>;

  constructor(
    files: Record<string, Uint8Array>,
    private readonly origin = 'memory://model',
  ) {
    this.files = new Map(Object.entries(files).map(([k, v]) => [k, Buffer.from(v.buffer, v.byteOffset, v.byteLength)]));
  }

  uri(key: string): string {
    return `${this.origin}/${key}`;
  }

  async read(key: string): Promise<Buffer> {
    const data = this.files.get(key);
    if (!data) throw new NotFoundError(this.uri(key));
    return data;
  }

  async readIfExists(key: string): Promise<{ data: Buffer; info: ObjectInfo } | undefined> {
    const data = this.files.get(key);
    return data ? { data, info: this.info(key, data) } : undefined;
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const data = this.files.get(key);
    return data ? this.info(key, data) : undefined;
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    return [...this.files.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => this.info(k, v));
  }

  async write(key: string): Promise<ObjectInfo> {
    throw new Error(`${this.uri(key)} is read-only: a model shipped to a worker cannot be changed`);
  }

  async delete(key: string): Promise<void> {
    throw new Error(`${this.uri(key)} is read-only: a model shipped to a worker cannot be changed`);
  }

  private info(key: string, data: Buffer): ObjectInfo {
    return { key, size: data.length, generation: createHash('sha1').update(data).digest('hex').slice(0, 16), updated: new Date(0) };
  }
}
