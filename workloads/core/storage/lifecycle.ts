import type { ObjectStore } from './object-store';

/**
 * The local stand-in for a bucket lifecycle rule "delete objects under this prefix older
 * than N days" (on Google Cloud the bucket does it; the rules are derived from the same
 * prefixes in core/layout.ts). Age is counted from the last write. Returns the keys deleted.
 */
export async function deleteExpired(store: ObjectStore, prefix: string, maxAgeMs: number, now = Date.now()): Promise<string[]> {
  const expired = (await store.list(prefix)).filter((o) => now - o.updated.getTime() > maxAgeMs);
  for (const o of expired) await store.delete(o.key);
  return expired.map((o) => o.key);
}
