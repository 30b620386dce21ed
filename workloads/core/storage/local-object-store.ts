import { createHash, randomBytes } from 'node:crypto';
import { closeSync, type Dirent, fstatSync, openSync, readFile as readFileCallback, readFileSync, promises as fs, statSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { NotFoundError, ObjectInfo, ObjectStore, PreconditionFailedError, WriteOptions } from './object-store';

/** Temp files are hidden dot-files next to their target so rename stays on one filesystem. */
const TEMP_MARK = '.tmp-';
const LOCK_SUFFIX = '.lock';
const LOCK_STALE_MS = 30_000;
const LIST_STAT_BATCH = 1000;

/** Objects up to this size are read synchronously (see {@link readBytes}). */
const SYNC_READ_MAX_BYTES = 256 * 1024;

/**
 * `fs.promises.readFile` opens a FileHandle and makes a separate thread-pool request per
 * step; the callback `readFile` is 1.3-1.7× faster, so large objects use it.
 */
const readFileAsync = promisify(readFileCallback);

/**
 * Reads a whole file. Small files (≤ 256 KiB: labels, photos, manifests, nearly every
 * object here) are read synchronously: from the page cache the read itself takes a few
 * microseconds, while each of an asynchronous read's four steps is a thread-pool round
 * trip that costs more (2,384 label files: 30-45 ms against 180-300 ms, with less CPU),
 * and during preprocessing those round trips queue behind sharp's work on the same pool.
 * Larger objects (model weights, shards) are read asynchronously so the event loop is never
 * blocked for long.
 */
async function readBytes(file: string): Promise<Buffer> {
  const fd = openSync(file, 'r');
  try {
    if (fstatSync(fd).size <= SYNC_READ_MAX_BYTES) return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
  return readFileAsync(file);
}

/**
 * A directory standing in for a GCS bucket. Writes go to a temp file that is fsynced and
 * renamed over the target, so a crash mid-write leaves the old object (or none), never a
 * part. The generation of an object is the SHA-256 of its bytes. Create-only writes
 * (`ifGenerationMatch: '0'`) publish the temp file with link(2), which fails atomically if
 * the name exists; other conditional writes take an exclusive lock file so two writers
 * cannot both pass the same precondition.
 */
export class LocalObjectStore implements ObjectStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  uri(key: string): string {
    return pathToFileURL(this.pathOf(key)).href;
  }

  private pathOf(key: string): string {
    if (key.length === 0 || key.startsWith('/') || key.split('/').some((p) => p === '..' || p === '.' || p === '')) {
      throw new Error(`invalid object key ${JSON.stringify(key)}: expected a relative path without '.', '..' or empty segments`);
    }
    return path.join(this.root, ...key.split('/'));
  }

  async read(key: string): Promise<Buffer> {
    // Only the bytes: no stat and no content hash (batch readers call this thousands of times).
    try {
      return await readBytes(this.pathOf(key));
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(this.uri(key));
      throw err;
    }
  }

  async readIfExists(key: string): Promise<{ data: Buffer; info: ObjectInfo } | undefined> {
    const file = this.pathOf(key);
    try {
      const [data, st] = await Promise.all([readBytes(file), fs.stat(file)]);
      return { data, info: { key, size: data.length, generation: generationOf(data), updated: st.mtime } };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    return (await this.readIfExists(key))?.info;
  }

  async write(key: string, data: Buffer | string, options: WriteOptions = {}): Promise<ObjectInfo> {
    const file = this.pathOf(key);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const condition = options.ifGenerationMatch;
    let done = false;
    if (condition === undefined) {
      await inDirectory(file, () => atomicReplace(file, bytes));
      done = true;
    } else if (condition === '0') {
      // Create-only needs no lock: link(2) of the finished temp file fails if the name is taken.
      const created = await inDirectory(file, () => atomicCreate(file, bytes));
      if (created === 'exists') throw new PreconditionFailedError(this.uri(key), condition, (await this.stat(key))?.generation);
      done = created === 'created';
    }
    if (!done) {
      await fs.mkdir(path.dirname(file), { recursive: true });
      await withLock(file, async () => {
        const current = await this.stat(key);
        const actual = current?.generation;
        const ok = condition === '0' ? current === undefined : actual === condition;
        if (!ok) throw new PreconditionFailedError(this.uri(key), condition!, actual);
        await atomicReplace(file, bytes);
      });
    }
    return { key, size: bytes.length, generation: generationOf(bytes), updated: new Date() };
  }

  /**
   * Deletes what a killed writer leaves behind: temp files (a write that never finished)
   * and lock files, last touched more than `olderThanMs` ago (a live write takes
   * milliseconds; a live lock is broken after 30 s anyway). Returns the paths removed.
   */
  async sweepLeftovers(olderThanMs: number, now = Date.now()): Promise<string[]> {
    const removed: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await entriesOf(dir);
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (e.name.startsWith(TEMP_MARK) || e.name.endsWith(LOCK_SUFFIX)) {
          const st = await fs.stat(full).catch(() => undefined);
          if (
            st &&
            now - st.mtimeMs > olderThanMs &&
            (await fs.unlink(full).then(
              () => true,
              () => false,
            ))
          )
            removed.push(full);
        }
      }
    };
    await walk(this.root);
    return removed;
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      const entries = await entriesOf(dir);
      const files: { key: string; file: string }[] = [];
      for (const e of entries) {
        if (e.name.startsWith(TEMP_MARK) || e.name.endsWith(LOCK_SUFFIX)) continue;
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          // Only descend into directories that can contain keys with this prefix.
          if (prefix.startsWith(`${key}/`) || key.startsWith(prefix) || `${key}/`.startsWith(prefix))
            await walk(path.join(dir, e.name), key);
        } else if (key.startsWith(prefix)) {
          files.push({ key, file: path.join(dir, e.name) });
        }
      }
      // stat(2) from the inode cache takes microseconds, a thread-pool round trip far more (a folder
      // of 2,384 labels: ~5 ms against ~100 ms), so stats are synchronous, in batches that yield
      // to the event loop so a very large listing never blocks it for long.
      for (const [i, { key, file }] of files.entries()) {
        if (i > 0 && i % LIST_STAT_BATCH === 0) await new Promise((resolve) => setImmediate(resolve));
        const st = statSync(file, { throwIfNoEntry: false }); // deleted between readdir and stat: not listed
        if (st) out.push({ key, size: st.size, generation: `mtime:${st.mtimeMs}:${st.size}`, updated: st.mtime });
      }
    };
    await walk(this.root, '');
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    try {
      await fs.unlink(this.pathOf(key));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

/** Listing is a cheap scan; exact generations come from `stat`, which hashes the content. */
export function generationOf(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 32);
}

/**
 * Runs a write, creating the object's directory only when the write finds it missing
 * (one `mkdir -p` per write was a measurable share of an upload's cost).
 */
async function inDirectory<T>(file: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await fs.mkdir(path.dirname(file), { recursive: true });
    return write();
  }
}

/** Writes and fsyncs a temp file next to `file`; returns its path. */
async function writeTemp(file: string, bytes: Buffer): Promise<string> {
  const tmp = path.join(path.dirname(file), `${TEMP_MARK}${path.basename(file)}-${randomBytes(6).toString('hex')}`);
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await fs.unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  return tmp;
}

async function atomicReplace(file: string, bytes: Buffer): Promise<void> {
  const tmp = await writeTemp(file, bytes);
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/**
 * Publishes `bytes` at `file` only if nothing is there. `no_hard_links`: the filesystem
 * has no link(2) (some network and container mounts), so the caller takes the lock path.
 */
async function atomicCreate(file: string, bytes: Buffer): Promise<'created' | 'exists' | 'no_hard_links'> {
  const tmp = await writeTemp(file, bytes);
  try {
    await fs.link(tmp, file);
    return 'created';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return 'exists';
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EOPNOTSUPP') return 'no_hard_links';
    throw err;
  } finally {
    await fs.unlink(tmp).catch(() => undefined);
  }
}

async function withLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const lock = file + LOCK_SUFFIX;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const h = await fs.open(lock, 'wx');
      await h.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock left by a crashed writer is broken after LOCK_STALE_MS.
      const st = await fs.stat(lock).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > LOCK_STALE_MS) await fs.unlink(lock).catch(() => undefined);
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for lock ${lock}; a writer holds it, or a crashed one left it (broken after ${LOCK_STALE_MS} ms)`,
          {
            cause: err,
          },
        );
      }
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.unlink(lock).catch(() => undefined);
  }
}

/** A folder's entries; none when it does not exist (a prefix nothing was written under). */
async function entriesOf(dir: string): Promise<Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
