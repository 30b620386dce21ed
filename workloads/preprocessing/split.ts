import type { Split } from '../core/layout';

export interface SplitShares {
  validationShare: number;
  testShare: number;
}

/**
 * The split of an image, from its content hash alone: the first 48 bits of the SHA-256
 * as a fraction in [0, 1); below `testShare` is test, then validation, the rest train.
 * An image therefore never moves between splits across versions (as long as the shares
 * stay the same), and duplicates land in the same split.
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
