import type { RejectReason } from '../core/images/normalize-image';
import type { Logger } from '../core/log';

/** Why a raw object was not turned into an example. */
export type SkipReason =
  | RejectReason
  | 'malformed_label_json'
  | 'invalid_label'
  | 'invalid_review'
  | 'missing_image'
  | 'sha256_mismatch'
  | 'read_error'
  | 'example_decode_error';

export interface Skip {
  uri: string;
  reason: SkipReason;
  message: string;
}

/**
 * Bad raw objects are counted, logged with their URI and reason, and skipped; they never
 * stop the run. The full list goes into the run summary.
 */
export class SkipLog {
  readonly skips: Skip[] = [];

  constructor(private readonly log?: Logger) {}

  add(uri: string, reason: SkipReason, message: string): void {
    this.skips.push({ uri, reason, message });
    this.log?.warn({ uri, reason }, `skipped ${uri}: ${message}`);
  }

  /** Adds skips already logged elsewhere (an earlier stage or another task). */
  merge(skips: readonly Skip[]): void {
    this.skips.push(...skips);
  }

  byReason(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const s of this.skips) counts[s.reason] = (counts[s.reason] ?? 0) + 1;
    return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
  }

  get count(): number {
    return this.skips.length;
  }
}
