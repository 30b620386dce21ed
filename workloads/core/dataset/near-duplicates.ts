import { hammingDistance } from './perceptual-hash';

/**
 * Finds perceptual hashes within `maxBits` of a query without comparing it with every hash:
 * the 64 bits are cut into 8 bytes, and two hashes at most 7 bits apart agree on at least
 * one whole byte (pigeonhole), so only hashes sharing a byte at the same position are
 * compared. With N hashes that is about N/32 comparisons per query instead of N.
 */
export class NearDuplicateIndex<T> {
  private readonly buckets = new Map<string, Array<{ hash: string; item: T }>>();

  constructor(readonly maxBits: number) {
    if (!Number.isInteger(maxBits) || maxBits < 0 || maxBits > 7) {
      throw new Error(`near-duplicate distance must be a whole number of bits in [0, 7], got ${maxBits}`);
    }
  }

  add(hash: string, item: T): void {
    for (let i = 0; i < 8; i++) {
      const key = `${i}:${hash.slice(2 * i, 2 * i + 2)}`;
      const bucket = this.buckets.get(key) ?? [];
      bucket.push({ hash, item });
      this.buckets.set(key, bucket);
    }
  }

  /** Every item whose hash is within `maxBits` of `hash` (each once). */
  near(hash: string): T[] {
    const found = new Set<T>();
    for (let i = 0; i < 8; i++) {
      for (const e of this.buckets.get(`${i}:${hash.slice(2 * i, 2 * i + 2)}`) ?? []) {
        if (!found.has(e.item) && hammingDistance(hash, e.hash) <= this.maxBits) found.add(e.item);
      }
    }
    return [...found];
  }
}
