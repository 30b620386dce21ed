/**
 * float32 ⇄ IEEE float16, for the feature cache: trunk activations need nowhere near 24
 * bits of mantissa, and half the bytes means half the disk and read time.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toFloat16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    f32[0] = src[i];
    const x = u32[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00; // overflow → Inf
    } else if (e <= 0) {
      if (e < -10) {
        out[i] = sign; // underflow → ±0
      } else {
        mant |= 0x800000;
        const shift = 14 - e;
        let h = mant >>> shift;
        if ((mant >>> (shift - 1)) & 1) h += 1; // round half up
        out[i] = sign | h;
      }
    } else {
      let h = sign | (e << 10) | (mant >>> 13);
      if (mant & 0x1000) h += 1; // round half up (may carry into the exponent, which is correct)
      out[i] = h;
    }
  }
  return out;
}

const TABLE = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) t[h] = mant ? NaN : sign * Infinity;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return t;
})();

export function fromFloat16(src: Uint16Array, out: Float32Array = new Float32Array(src.length), offset = 0): Float32Array {
  for (let i = 0; i < src.length; i++) out[offset + i] = TABLE[src[i]];
  return out;
}
