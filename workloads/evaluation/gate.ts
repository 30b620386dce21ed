import type { WorkloadConfig } from '../core/config/schema';
import binomialTest from '@stdlib/stats-binomial-test';
import { type PairedComparison, pairedComparison, POWER, proportionBounds } from './paired-test';

/**
 * The promotion gate: a pure function of both models' answers on the same evaluation
 * photos (the frozen `test` split of one dataset version), the optional shadow-traffic
 * comparison and the configured thresholds. Every rule that fails adds a reason; the
 * challenger is promoted only when none fails:
 *
 *   enough      at least `minTestExamples` evaluation photos;
 *   better      the challenger is significantly better (exact one-sided McNemar at `alpha`,
 *               effect lower bound ≥ `minMargin`), OR it adds breeds the champion lacks
 *               (the champion scores 0 on a breed it has no column for), names them right
 *               significantly more often than chance, and is not significantly worse on
 *               the old breeds;
 *   floors      no breed's recall is below its floor beyond its own uncertainty (the
 *               Clopper–Pearson upper bound at `alpha` is below `classFloors[breed]` or
 *               `classFloor`);
 *   forgetting  no old breed's recall fell significantly (McNemar within the breed at
 *               `alpha`) and by more than `maxClassDrop`;
 *   shadow      with `requireShadow`, enough shared live requests where the challenger is
 *               at least as accurate.
 * With no production model at all, the first model needs its top-1 lower bound ≥ `floorTop1`.
 */
export type GateConfig = WorkloadConfig['gate'];
export type Decision = 'promote' | 'reject';

export interface ShadowComparison {
  /** Requests both models predicted, with a known true label. */
  pairs: number;
  challengerAccuracy: number | null;
  championAccuracy: number | null;
}

/** Both models' top-1 answers on the same evaluation photos, in the dataset's label space (−1: not a dataset label). */
export interface PairedAnswers {
  labels: string[];
  truth: Int32Array;
  challenger: Int32Array;
  /** Null when there is no production model. */
  champion: Int32Array | null;
  /** Labels the champion has a column for (it cannot name the others). */
  championLabels: ReadonlySet<string>;
  /** Labels the challenger has a column for. */
  challengerLabels: ReadonlySet<string>;
}

/** What the decision rests on, per breed. */
interface ClassChange {
  label: string;
  n: number;
  challenger: number;
  champion: number | null;
  /** Recall change, challenger − champion. */
  change: number | null;
  /** The champion has no column for it. */
  isNew: boolean;
  floor: number;
  /** Upper bound of the challenger's recall at `alpha`. */
  upper: number;
  /** One-sided p-value that the challenger is worse on this breed. */
  pWorse: number | null;
}

export interface GateStatistics {
  n: number;
  alpha: number;
  /** All evaluation photos; null without a champion. */
  overall: PairedComparison | null;
  /** The breeds the champion knows; null without a champion. */
  old: PairedComparison | null;
  /** The breeds only the challenger knows (null when there are none). */
  added: PairedComparison | null;
  /**
   * Learning of the breeds only the challenger knows: photos of them it names right, against
   * naming them by chance (1 in the number of labels); null when there are none.
   */
  learning: { right: number; n: number; chance: number; p: number } | null;
  challengerTop1: number;
  championTop1: number | null;
  /** Challenger top-1 bounds at `alpha` (the first-model rule). */
  top1Low: number;
  classes: ClassChange[];
}

export interface GateResult {
  decision: Decision;
  /** One line per rule, passed or failed, in words. */
  checks: Array<{ rule: string; passed: boolean; detail: string }>;
  reason: string;
  statistics: GateStatistics;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const pts = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} pt`;
const p = (x: number): string => (x < 0.001 ? 'p < 0.001' : `p = ${x.toFixed(3)}`);
const interval = (c: PairedComparison, alpha: number): string =>
  `${pts(c.effect)}, ${Math.round((1 - 2 * alpha) * 100)}% CI [${pts(c.low)}, ${pts(c.high)}], ${p(c.pBetter)}`;
const detectable = (c: PairedComparison): string =>
  c.detectable === null
    ? 'too few photos on which the models differ to prove any improvement'
    : `on these photos it detects an improvement of ${pts(c.detectable)} with ${POWER * 100}% power`;

function compare(a: PairedAnswers, alpha: number, keep: (i: number) => boolean): PairedComparison {
  let b = 0;
  let c = 0;
  let n = 0;
  for (let i = 0; i < a.truth.length; i++) {
    if (!keep(i)) continue;
    n++;
    const ch = a.challenger[i] === a.truth[i];
    const cp = a.champion![i] === a.truth[i];
    if (ch && !cp) b++;
    else if (cp && !ch) c++;
  }
  return pairedComparison(b, c, n, alpha);
}

function gateStatistics(a: PairedAnswers, gate: GateConfig): GateStatistics {
  const { alpha } = gate;
  const n = a.truth.length;
  const isNew = (label: string): boolean => a.champion !== null && !a.championLabels.has(label);
  const hits = (answers: Int32Array, keep: (i: number) => boolean): number => {
    let k = 0;
    for (let i = 0; i < n; i++) if (keep(i) && answers[i] === a.truth[i]) k++;
    return k;
  };
  const classes: ClassChange[] = [];
  a.labels.forEach((label, j) => {
    const inClass = (i: number): boolean => a.truth[i] === j;
    const support = a.truth.reduce((s, t) => s + (t === j ? 1 : 0), 0);
    if (support === 0) return;
    const right = hits(a.challenger, inClass);
    const challenger = right / support;
    const champion = a.champion ? hits(a.champion, inClass) / support : null;
    const floor = gate.classFloors[label] ?? gate.classFloor;
    const within = a.champion ? compare(a, alpha, inClass) : null;
    classes.push({
      label,
      n: support,
      challenger,
      champion,
      change: champion === null ? null : challenger - champion,
      isNew: isNew(label),
      floor,
      upper: proportionBounds(right, support, alpha).high,
      pWorse: within && !isNew(label) ? within.pWorse : null,
    });
  });
  const newLabels = new Set(classes.filter((c) => c.isNew).map((c) => a.labels.indexOf(c.label)));
  const challengerRight = hits(a.challenger, () => true);
  const challengerTop1 = challengerRight / Math.max(1, n);
  return {
    n,
    alpha,
    overall: a.champion ? compare(a, alpha, () => true) : null,
    old: a.champion ? compare(a, alpha, (i) => !newLabels.has(a.truth[i])) : null,
    added: a.champion && newLabels.size > 0 ? compare(a, alpha, (i) => newLabels.has(a.truth[i])) : null,
    learning: a.champion && newLabels.size > 0 ? learningOf(a, (i) => newLabels.has(a.truth[i])) : null,
    challengerTop1,
    championTop1: a.champion ? hits(a.champion, () => true) / Math.max(1, n) : null,
    top1Low: proportionBounds(challengerRight, n, alpha).low,
    classes,
  };
}

/** How often the challenger names some breeds right, against chance (an exact one-sided binomial test). */
function learningOf(a: PairedAnswers, keep: (i: number) => boolean): NonNullable<GateStatistics['learning']> {
  let right = 0;
  let n = 0;
  for (let i = 0; i < a.truth.length; i++) {
    if (!keep(i)) continue;
    n++;
    if (a.challenger[i] === a.truth[i]) right++;
  }
  const chance = 1 / Math.max(2, a.labels.length);
  return { right, n, chance, p: n === 0 ? 1 : binomialTest(right, n, { p: chance, alternative: 'greater' }).pValue };
}

export function decide(answers: PairedAnswers, gate: GateConfig, shadow: ShadowComparison | null): GateResult {
  const s = gateStatistics(answers, gate);
  const checks: GateResult['checks'] = [];
  const check = (rule: string, passed: boolean, detail: string): void => {
    checks.push({ rule, passed, detail });
  };
  check(
    'min_test_examples',
    s.n >= gate.minTestExamples,
    s.n >= gate.minTestExamples
      ? `${s.n} evaluation photos`
      : `${s.n} evaluation photos, the gate needs at least ${gate.minTestExamples}: waiting for data`,
  );
  if (!s.overall) {
    check(
      'floor_top1',
      s.top1Low >= gate.floorTop1,
      `first model: top-1 ${pct(s.challengerTop1)} (lower bound ${pct(s.top1Low)}, floor ${pct(gate.floorTop1)})`,
    );
  } else {
    const better = s.overall.pBetter < gate.alpha && s.overall.low >= gate.minMargin;
    const added = s.added;
    // A breed the champion has no column for is scored 0 for it by definition, so learning it
    // means naming it far more often than chance; not forgetting means the old breeds are not
    // significantly worse. The breed's own floor still applies (class_floors).
    const learning = s.learning;
    const learnt = learning !== null && learning.p < gate.alpha && s.old!.pWorse >= gate.alpha;
    const newNames = s.classes.filter((c) => c.isNew).map((c) => c.label);
    const versus = `top-1 ${pct(s.challengerTop1)} vs champion ${pct(s.championTop1!)}: ${interval(s.overall, gate.alpha)}`;
    let detail: string;
    if (better) detail = `better: ${versus}`;
    else if (learnt)
      detail =
        `learnt ${newNames.join(', ')}: ${learning.right} of ${learning.n} evaluation photos named right (chance ${pct(learning.chance)}, ${p(learning.p)}), ` +
        `without forgetting (old breeds ${interval(s.old!, gate.alpha)})`;
    else
      detail =
        `not significantly better: ${versus} (${detectable(s.overall)})` +
        (added && learning
          ? `; new ${newNames.join(', ')}: ${learning.right} of ${learning.n} named right (chance ${pct(learning.chance)}, ${p(learning.p)}), old breeds: ${interval(s.old!, gate.alpha)}`
          : '') +
        (s.overall.pBetter < gate.alpha ? ` (lower bound below the ${pct(gate.minMargin)} margin)` : '');
    check('better', better || learnt, detail);
    // The evaluation set holds only breeds with trusted photos, so it cannot see a breed the
    // champion names without any (model zero names every mapped breed zero-shot from the
    // start). A challenger without a column for one would drop it from the service.
    const dropped = [...answers.championLabels].filter((l) => !answers.challengerLabels.has(l)).sort();
    check(
      'keeps_breeds',
      dropped.length === 0,
      dropped.length === 0
        ? 'names every breed the champion names'
        : `cannot name ${dropped.join(', ')}, which the champion names (no trusted photos of ${dropped.length === 1 ? 'it' : 'them'} yet)`,
    );
    const forgot = s.classes.filter(
      (c) => !c.isNew && c.pWorse !== null && c.pWorse < gate.alpha && c.change !== null && -c.change > gate.maxClassDrop,
    );
    check(
      'forgetting',
      forgot.length === 0,
      forgot.length === 0
        ? `no breed lost more than ${pct(gate.maxClassDrop)} significantly`
        : `forgot ${forgot.map((c) => `${c.label} (${pct(c.champion!)} → ${pct(c.challenger)}, n=${c.n})`).join(', ')}`,
    );
  }
  const below = s.classes.filter((c) => c.upper < c.floor);
  check(
    'class_floors',
    below.length === 0,
    below.length === 0
      ? `every breed within its floor's uncertainty`
      : `below the floor beyond its uncertainty: ${below.map((c) => `${c.label} recall ${pct(c.challenger)} (upper bound ${pct(c.upper)} < floor ${pct(c.floor)}, n=${c.n})`).join(', ')}`,
  );
  if (gate.requireShadow && s.overall) {
    const ok =
      shadow !== null && shadow.pairs >= gate.minShadowPredictions && (shadow.challengerAccuracy ?? 0) >= (shadow.championAccuracy ?? 0);
    check(
      'shadow',
      ok,
      shadow && shadow.pairs > 0
        ? `shadow traffic: challenger ${pct(shadow.challengerAccuracy ?? 0)} vs champion ${pct(shadow.championAccuracy ?? 0)} ` +
            `on ${shadow.pairs} shared requests (needs ≥ ${gate.minShadowPredictions} and challenger ≥ champion)`
        : `no shadow traffic yet (needs ≥ ${gate.minShadowPredictions} shared labelled requests)`,
    );
  }
  const failed = checks.filter((c) => !c.passed);
  const decision: Decision = failed.length === 0 ? 'promote' : 'reject';
  const shown =
    decision === 'promote'
      ? checks.filter((c) => c.rule === 'better' || c.rule === 'floor_top1' || c.rule === 'min_test_examples')
      : failed;
  return { decision, checks, reason: `${decision}: ${shown.map((c) => c.detail).join('; ')}`, statistics: s };
}
