import type { WorkloadConfig } from '../core/config/schema';

/**
 * The retraining decision, as a pure function of what the warehouse and the data lake say
 * (gathered by ./signals.ts) and the `trigger` config. Kept free of I/O so every branch is
 * unit-tested and the logged inputs reproduce the decision exactly.
 */

export type TriggerThresholds = Pick<
  WorkloadConfig['trigger'],
  'minNewLabelled' | 'driftMargin' | 'driftMinPredictions' | 'driftWindowMinutes' | 'maxIntervalHours'
>;

export interface TriggerInputs {
  /** When the inputs were gathered (ISO 8601). */
  now: string;
  /** The newest dataset version (by manifest), or null before the first one. */
  lastDataset: { version: string; createdAt: string } | null;
  hoursSinceLast: number | null;
  /**
   * Trusted photos no dataset version holds yet, one per photo (near-duplicates are one),
   * exactly what preprocessing would take in (preprocessing/intake.ts).
   */
  newLabelled: number;
  /** Breeds among them that the last dataset version does not have (each with enough photos to learn). */
  newClasses?: string[];
  /** Users' photos awaiting trust (not counted above). */
  pending?: number;
  /** New breeds still below preprocessing.minClassExamples (label → photos), not counted above. */
  deferred?: Record<string, number>;
  /** The production model, or null before the first promotion. */
  champion: string | null;
  /** Top-1 accuracy the champion had on held-out data when it was promoted. */
  baselineAccuracy: number | null;
  /** Champion predictions with a known truth in the drift window. */
  recentPredictions: number;
  recentAccuracy: number | null;
  force: boolean;
}

export type TriggerCondition = 'forced' | 'first_run' | 'new_class' | 'new_data' | 'drift' | 'max_interval' | 'none';

export interface TriggerDecision {
  fire: boolean;
  /** The first condition that holds (in the order of the type), or 'none'. */
  condition: TriggerCondition;
  /** Every condition that holds, or why none does, in words. */
  reason: string;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const hours = (h: number): string => `${h.toFixed(1)} h`;

/** What else is waiting, in words (users' photos awaiting trust, breeds still too small). */
function waitingFor(inputs: TriggerInputs): string {
  const parts: string[] = [];
  if (inputs.pending) parts.push(`${inputs.pending} users' photos awaiting trust`);
  const deferred = Object.entries(inputs.deferred ?? {});
  if (deferred.length) parts.push(`breeds still too small to learn: ${deferred.map(([l, n]) => `${l} ${n}`).join(', ')}`);
  return parts.length ? ` (${parts.join('; ')})` : '';
}

export function decide(inputs: TriggerInputs, t: TriggerThresholds): TriggerDecision {
  const { newLabelled } = inputs;
  if (!inputs.lastDataset) {
    const enough = newLabelled >= t.minNewLabelled;
    const base = `no dataset version yet; ${newLabelled} labelled examples ${enough ? '≥' : '<'} ${t.minNewLabelled} needed for the first`;
    if (inputs.force) return { fire: true, condition: 'forced', reason: `forced (${base})` };
    return enough
      ? { fire: true, condition: 'first_run', reason: `first run: ${base}` }
      : { fire: false, condition: 'none', reason: `waiting for data: ${base}` };
  }

  const held: Array<[TriggerCondition, string]> = [];
  const notHeld: string[] = [];

  // A new breed is learnt as soon as enough of it has arrived, not when the batch is full.
  if (inputs.newClasses?.length) held.push(['new_class', `new breed(s) ready to learn: ${inputs.newClasses.join(', ')}`]);

  if (newLabelled >= t.minNewLabelled)
    held.push(['new_data', `${newLabelled} new labelled examples since ${inputs.lastDataset.version} ≥ ${t.minNewLabelled}`]);
  else notHeld.push(`${newLabelled} new labelled examples < ${t.minNewLabelled}${waitingFor(inputs)}`);

  if (!inputs.champion) notHeld.push('no champion to check for drift');
  else if (inputs.baselineAccuracy === null) notHeld.push(`no baseline accuracy recorded for champion ${inputs.champion}`);
  else if (inputs.recentPredictions < t.driftMinPredictions || inputs.recentAccuracy === null) {
    notHeld.push(
      `${inputs.recentPredictions} champion predictions with known truth in the last ${t.driftWindowMinutes} min < ${t.driftMinPredictions} needed to judge drift`,
    );
  } else {
    const floor = inputs.baselineAccuracy - t.driftMargin;
    const summary = `champion ${inputs.champion} accuracy ${pct(inputs.recentAccuracy)} over ${inputs.recentPredictions} recent predictions vs baseline ${pct(inputs.baselineAccuracy)}`;
    if (inputs.recentAccuracy < floor) held.push(['drift', `${summary}: below by more than the ${pct(t.driftMargin)} margin`]);
    else notHeld.push(`${summary}: within the ${pct(t.driftMargin)} margin`);
  }

  if (inputs.hoursSinceLast !== null && inputs.hoursSinceLast >= t.maxIntervalHours) {
    held.push(['max_interval', `${hours(inputs.hoursSinceLast)} since ${inputs.lastDataset.version} ≥ ${hours(t.maxIntervalHours)}`]);
  } else if (inputs.hoursSinceLast !== null)
    notHeld.push(`${hours(inputs.hoursSinceLast)} since the last dataset < ${hours(t.maxIntervalHours)}`);

  // Drift or age alone cannot be fixed by retraining on the very same data: preprocessing
  // would have nothing new to version. Such a check is logged as waiting, not fired.
  if (held.length && newLabelled === 0 && !inputs.force) {
    return {
      fire: false,
      condition: 'none',
      reason: `waiting for data: ${held.map(([c, r]) => `${c}: ${r}`).join('; ')}; but no new trusted photos since ${inputs.lastDataset.version} to retrain on${waitingFor(inputs)}`,
    };
  }
  if (held.length) return { fire: true, condition: held[0][0], reason: held.map(([c, r]) => `${c}: ${r}`).join('; ') };
  if (inputs.force) return { fire: true, condition: 'forced', reason: `forced (${notHeld.join('; ')})` };
  return { fire: false, condition: 'none', reason: notHeld.join('; ') };
}
