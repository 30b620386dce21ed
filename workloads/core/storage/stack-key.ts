import { randomBytes } from 'node:crypto';
import { type ObjectStore, PreconditionFailedError, readJson, writeJson } from './object-store';

/**
 * A random secret made once per stack and kept in a bucket (the split key, the voter key):
 * read it, or make it if-absent, so concurrent first users (two runs, two replicas) agree
 * on one. It never leaves the bucket, so nobody outside can predict what it decides.
 */
export async function stackKey(store: ObjectStore, key: string): Promise<string> {
  const existing = await readJson<{ key?: string }>(store, key);
  if (existing?.key) return existing.key;
  const made = randomBytes(32).toString('hex');
  try {
    await writeJson(store, key, { key: made, createdAt: new Date().toISOString() }, { ifGenerationMatch: '0' });
    return made;
  } catch (err) {
    if (!(err instanceof PreconditionFailedError)) throw err;
    const winner = await readJson<{ key?: string }>(store, key);
    if (!winner?.key) throw new Error(`${store.uri(key)} exists but holds no key`, { cause: err });
    return winner.key;
  }
}
