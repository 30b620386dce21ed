/**
 * One interface over object storage: a GCS bucket in the cloud, a directory locally.
 *
 * Generations follow GCS semantics so code written against one behaves the same on the
 * other: every write of an object yields a new generation token; `ifGenerationMatch: '0'`
 * means "only if the object does not exist"; a precondition that fails throws
 * {@link PreconditionFailedError} and changes nothing.
 */

export interface ObjectInfo {
  key: string;
  size: number;
  /** Opaque token that changes on every write (GCS generation; content hash locally). */
  generation: string;
  updated: Date;
}

export interface WriteOptions {
  /** Write only if the current generation equals this; '0' means "only if absent". */
  ifGenerationMatch?: string;
  contentType?: string;
}

export interface ObjectStore {
  /** URI of an object (`gs://bucket/key` or `file:///abs/path`), for logs and warehouse rows. */
  uri(key: string): string;
  /** Reads an object; throws {@link NotFoundError} when it does not exist. */
  read(key: string): Promise<Buffer>;
  /** Reads an object, or returns undefined when it does not exist. */
  readIfExists(key: string): Promise<{ data: Buffer; info: ObjectInfo } | undefined>;
  stat(key: string): Promise<ObjectInfo | undefined>;
  /**
   * Writes an object atomically: readers see the old object or the whole new one, never a
   * part (temp file + rename locally; a single-request upload on GCS).
   */
  write(key: string, data: Buffer | string, options?: WriteOptions): Promise<ObjectInfo>;
  /** Lists objects whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<ObjectInfo[]>;
  delete(key: string): Promise<void>;
}

export class NotFoundError extends Error {
  constructor(public readonly uri: string) {
    super(`object not found: ${uri}`);
    this.name = 'NotFoundError';
  }
}

export class PreconditionFailedError extends Error {
  constructor(
    public readonly uri: string,
    public readonly expected: string,
    public readonly actual: string | undefined,
  ) {
    super(
      `precondition failed for ${uri}: expected generation ${expected === '0' ? '(absent)' : expected}, ` +
        `found ${actual === undefined ? '(absent)' : actual}`,
    );
    this.name = 'PreconditionFailedError';
  }
}

/** Reads a JSON object, or undefined when absent. */
export async function readJson<T>(store: ObjectStore, key: string): Promise<T | undefined> {
  const found = await store.readIfExists(key);
  if (!found) return undefined;
  try {
    return JSON.parse(found.data.toString('utf8')) as T;
  } catch (err) {
    throw new Error(`object ${store.uri(key)} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

export async function writeJson(store: ObjectStore, key: string, value: unknown, options: WriteOptions = {}): Promise<ObjectInfo> {
  return store.write(key, JSON.stringify(value, null, 2) + '\n', { contentType: 'application/json', ...options });
}
