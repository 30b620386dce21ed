import { crc32c } from '@node-rs/crc32';

/**
 * TFRecord's masked CRC32C (tensorflow/core/lib/hash/crc32c.h `Mask`): the CRC is rotated
 * right by 15 bits and offset by a constant, because CRCs computed over data that itself
 * contains CRCs are weak. `@node-rs/crc32` computes CRC32C (Castagnoli) with SSE4.2.
 */
const MASK_DELTA = 0xa282ead8;

export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data) >>> 0;
  return (((crc >>> 15) | (crc << 17)) + MASK_DELTA) >>> 0;
}
