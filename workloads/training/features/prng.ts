import { createHash } from 'node:crypto';

/**
 * A small seeded PRNG (sfc32) whose whole state is four 32-bit words, so a training
 * checkpoint can save it and a resumed run draws exactly the numbers the interrupted one
 * would have (shuffles, dropout masks, augmentation choices): resume gives the same result.
 */
export type PrngState = [number, number, number, number];

export class Prng {
  private s: Uint32Array;

  constructor(state: PrngState) {
    this.s = Uint32Array.from(state);
  }

  /** A generator seeded from any string/number parts (hashed, so nearby seeds are unrelated). */
  static from(...parts: Array<string | number>): Prng {
    const h = createHash('sha256').update(parts.join('\u0000')).digest();
    const p = new Prng([h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12)]);
    for (let i = 0; i < 12; i++) p.nextUint32(); // warm up
    return p;
  }

  state(): PrngState {
    return [this.s[0], this.s[1], this.s[2], this.s[3]];
  }

  nextUint32(): number {
    const s = this.s;
    const t = (((s[0] + s[1]) >>> 0) + s[3]) >>> 0;
    s[3] = (s[3] + 1) >>> 0;
    s[0] = s[1] ^ (s[1] >>> 9);
    s[1] = (s[2] + (s[2] << 3)) >>> 0;
    s[2] = ((s[2] << 21) | (s[2] >>> 11)) >>> 0;
    s[2] = (s[2] + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}
