import { createHash } from 'node:crypto';
import { datasetKeys, type Split } from '../core/layout';
import type { ObjectStore } from '../core/storage/object-store';
import { stackKey } from '../core/storage/stack-key';

/**
 * Which split a new photo goes to. The `test` split is the evaluation set the gate judges
 * on, so it is allocated per class (stratified) rather than left to chance:
 *
 *   a class with n photos in all should have T(n) = min(⌊n/2⌋, max(round(testShare·n), evalMinPerClass))
 *   evaluation photos; a version tops its evaluation photos up to T(n) from the class's new
 *   photos, and the rest go to validation (a `validationShare` of them) or training.
 *
 * An example's split is decided once, when it first enters a version, and never changes:
 * the evaluation set only grows, and nothing in it was ever trained on. The order among a
 * class's new photos is a keyed hash of each photo's perceptual hash, with a random key
 * made once per stack and kept in the datasets bucket: near-duplicates get the same place,
 * and nobody outside can choose the split of a photo (appending bytes changes neither the
 * picture nor its place).
 */

export interface AllocationSettings {
  testShare: number;
  validationShare: number;
  evalMinPerClass: number;
}

export interface ClassCounts {
  total: number;
  test: number;
}

/** Evaluation photos a class of `n` photos should have. */
export function evalTarget(n: number, s: AllocationSettings): number {
  return Math.min(Math.floor(n / 2), Math.max(Math.round(s.testShare * n), s.evalMinPerClass));
}

/** A fraction in [0, 1) from the split key and a perceptual hash (one per purpose). */
function keyedFraction(key: string, purpose: string, phash: string): number {
  const digest = createHash('sha256').update(`${key}:${purpose}:${phash}`).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

export interface Allocatable {
  label: string;
  phash: string;
}

/**
 * Splits for a version's new photos, given what each class already holds. Deterministic
 * for the same key, photos and counts.
 */
export function allocateSplits<T extends Allocatable>(
  items: readonly T[],
  existing: ReadonlyMap<string, ClassCounts>,
  settings: AllocationSettings,
  key: string,
): Map<T, Split> {
  if (settings.validationShare + settings.testShare > 1) {
    throw new Error(
      `preprocessing.validationShare + preprocessing.testShare must be at most 1 (got ${settings.validationShare} + ${settings.testShare})`,
    );
  }
  const byClass = new Map<string, T[]>();
  for (const item of items) byClass.set(item.label, [...(byClass.get(item.label) ?? []), item]);
  const out = new Map<T, Split>();
  for (const [label, fresh] of byClass) {
    const have = existing.get(label) ?? { total: 0, test: 0 };
    const deficit = Math.max(0, evalTarget(have.total + fresh.length, settings) - have.test);
    const ordered = fresh
      .map((item) => ({ item, f: keyedFraction(key, 'test', item.phash) }))
      .sort((a, b) => a.f - b.f || a.item.phash.localeCompare(b.item.phash));
    // Validation takes its share of what is left for learning (train + validation).
    const validation = settings.testShare < 1 ? settings.validationShare / (1 - settings.testShare) : 0;
    ordered.forEach(({ item }, i) => {
      if (i < deficit) out.set(item, 'test');
      else out.set(item, keyedFraction(key, 'validation', item.phash) < validation ? 'validation' : 'train');
    });
  }
  return out;
}

/** The stack's split key (made once, kept in the datasets bucket). */
export const splitKey = (datasets: ObjectStore): Promise<string> => stackKey(datasets, datasetKeys.splitKey);
