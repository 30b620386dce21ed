import type { WorkloadConfig } from '../core/config/schema';
import type { EvalMetrics } from './metrics';

/**
 * The promotion gate, a pure function of the two models' test metrics (same examples),
 * the optional shadow-traffic comparison and the configured thresholds. Every rule that
 * fails adds a reason; the challenger is promoted only when none fails.
 */
export type GateConfig = WorkloadConfig['gate'];
export type Decision = 'promote' | 'reject';

export interface ShadowComparison {
  /** Requests both models predicted, with a known true label. */
  pairs: number;
  challengerAccuracy: number | null;
  championAccuracy: number | null;
}

export interface GateResult {
  decision: Decision;
  /** One line per rule, passed or failed, in words. */
  checks: Array<{ rule: string; passed: boolean; detail: string }>;
  reason: string;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

export function decide(
  challenger: EvalMetrics,
  champion: EvalMetrics | null,
  gate: GateConfig,
  shadow: ShadowComparison | null,
): GateResult {
  const checks: GateResult['checks'] = [];
  const check = (rule: string, passed: boolean, detail: string): void => {
    checks.push({ rule, passed, detail });
  };
  check(
    'min_test_examples',
    challenger.n >= gate.minTestExamples,
    `${challenger.n} test examples (gate needs at least ${gate.minTestExamples})`,
  );
  if (!champion) {
    check('floor_top1', challenger.top1 >= gate.floorTop1, `first model: top-1 ${pct(challenger.top1)} (floor ${pct(gate.floorTop1)})`);
  } else {
    const needed = champion.top1 + gate.minMargin;
    check(
      'margin_top1',
      challenger.top1 >= needed - 1e-12,
      `top-1 ${pct(challenger.top1)} vs champion ${pct(champion.top1)} (needs ≥ ${pct(needed)}, margin ${pct(gate.minMargin)})`,
    );
    const championRecall = new Map(champion.perClass.filter((c) => c.support > 0).map((c) => [c.label, c.recall]));
    const drops = challenger.perClass
      .filter((c) => c.support >= gate.minClassSupport && championRecall.has(c.label))
      .map((c) => ({ label: c.label, drop: championRecall.get(c.label)! - c.recall }))
      .sort((a, b) => b.drop - a.drop);
    const worst = drops[0];
    check(
      'max_class_drop',
      !worst || worst.drop <= gate.maxClassDrop + 1e-12,
      worst
        ? `largest per-class recall drop: ${worst.label} ${pct(Math.max(0, worst.drop))} (limit ${pct(gate.maxClassDrop)})`
        : `no class in common with at least ${gate.minClassSupport} test examples to compare`,
    );
  }
  if (gate.requireShadow && champion) {
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
  const reason =
    decision === 'promote' ? `promote: ${checks.map((c) => c.detail).join('; ')}` : `reject: ${failed.map((c) => c.detail).join('; ')}`;
  return { decision, checks, reason };
}
