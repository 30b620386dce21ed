import type { Split } from '../core/layout';

export interface SplitShares {
  validationShare: number;
  testShare: number;
}

/**
 * A split from the content hash alone: the first 48 bits of the SHA-256 as a fraction in
 * [0, 1); below `testShare` is test, then validation, the rest train. Benchmarks use it to
 * hold photos out reproducibly. Dataset versions no longer split this way (anyone could
 * choose a photo's split by appending bytes to it): they allocate per breed with a secret
 * key over the perceptual hash (allocate.ts).
 */
export function splitOf(sha256: string, shares: SplitShares): Split {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`splitOf: expected a SHA-256 in lowercase hex, got ${JSON.stringify(sha256)}`);
  if (shares.validationShare + shares.testShare > 1) {
    throw new Error(
      `preprocessing.validationShare + preprocessing.testShare must be at most 1 (got ${shares.validationShare} + ${shares.testShare})`,
    );
  }
  const fraction = parseInt(sha256.slice(0, 12), 16) / 2 ** 48;
  if (fraction < shares.testShare) return 'test';
  if (fraction < shares.testShare + shares.validationShare) return 'validation';
  return 'train';
}
