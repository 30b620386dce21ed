import { createHash } from 'node:crypto';
import type { KnownExample } from './lineage';

/**
 * Hard-example replay: which examples of earlier versions a new version repeats.
 *
 * The replay count is `replayShare` of the new version: R = N·s/(1−s) for N new examples,
 * capped by what earlier versions hold. Selection is deterministic for a given seed (the
 * new version's name), so a version can be rebuilt and audited:
 *   1. misclassified examples (from the prediction log) first, most misses first;
 *   2. classes balanced as far as data allows: each pick goes to the class with the
 *      fewest examples so far (counting the new examples), within the current tier.
 */

export interface ReplayCandidate extends KnownExample {
  /** How often a model got this image wrong (0 when never, or unknown). */
  misses: number;
}

export function replayTarget(newExamples: number, replayShare: number, available: number): number {
  if (replayShare <= 0 || available === 0) return 0;
  if (replayShare >= 1) return available;
  return Math.min(available, Math.round((newExamples * replayShare) / (1 - replayShare)));
}

const tieBreak = (seed: string, sha: string): string => createHash('sha256').update(`${seed}:${sha}`).digest('hex');

export function selectReplay(
  pool: readonly ReplayCandidate[],
  target: number,
  seed: string,
  /** Examples per class already in the version (the new ones). */
  baseCounts: Readonly<Record<string, number>> = {},
): ReplayCandidate[] {
  const counts = new Map<string, number>(Object.entries(baseCounts));
  const picked: ReplayCandidate[] = [];
  const tiers = [pool.filter((c) => c.misses > 0), pool.filter((c) => c.misses === 0)];
  for (const tier of tiers) {
    // Per class: most misses first, then a seeded shuffle.
    const byClass = new Map<string, ReplayCandidate[]>();
    const keyed = tier.map((c) => ({ c, k: tieBreak(seed, c.sha256) }));
    keyed.sort((a, b) => b.c.misses - a.c.misses || a.k.localeCompare(b.k));
    for (const { c } of keyed) {
      const list = byClass.get(c.label) ?? [];
      list.push(c);
      byClass.set(c.label, list);
    }
    while (picked.length < target && byClass.size > 0) {
      let best: string | undefined;
      for (const label of byClass.keys()) {
        const n = counts.get(label) ?? 0;
        if (best === undefined || n < (counts.get(best) ?? 0) || (n === (counts.get(best) ?? 0) && label < best)) best = label;
      }
      const list = byClass.get(best!)!;
      picked.push(list.shift()!);
      counts.set(best!, (counts.get(best!) ?? 0) + 1);
      if (list.length === 0) byClass.delete(best!);
    }
  }
  return picked;
}
