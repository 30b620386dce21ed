import { loadConfig } from '../../core/config/load';
import { decide } from '../gate';
import { computeMetrics, EvalMetrics, rankPredictions } from '../metrics';

const labels = ['a', 'b', 'c'];
const gate = loadConfig({
  env: {},
  overrides: { gate: { minMargin: 0.005, minTestExamples: 40, maxClassDrop: 0.15, floorTop1: 0.3, requireShadow: false } },
}).gate;

/** Metrics of a model that gets `correct[c]` of `per` examples of class c right (wrong ones go to the next class). */
function metricsOf(correct: number[], per = 20): EvalMetrics {
  const truth: number[] = [];
  const probs: number[] = [];
  correct.forEach((ok, c) => {
    for (let i = 0; i < per; i++) {
      truth.push(c);
      const pred = i < ok ? c : (c + 1) % labels.length;
      probs.push(...labels.map((_, j) => (j === pred ? 0.8 : 0.1)));
    }
  });
  return computeMetrics(rankPredictions(Float32Array.from(probs), labels, labels), Int32Array.from(truth), labels);
}

describe('metrics', () => {
  it('computes top-1, top-5, per-class recall/precision, macro F1, calibration and the confusion matrix', () => {
    const m = metricsOf([20, 10, 15]);
    expect(m.n).toBe(60);
    expect(m.top1).toBeCloseTo(45 / 60);
    expect(m.top5).toBe(1);
    expect(m.perClass.map((c) => c.recall)).toEqual([1, 0.5, 0.75]);
    expect(m.confusion[1]).toEqual([0, 10, 10]);
    // 'a' is predicted for all 20 a's and the 5 wrong c's: precision 20/25.
    expect(m.perClass[0].precision).toBeCloseTo(0.8);
    // Every prediction has confidence 0.8; accuracy 0.75 → ECE 0.05.
    expect(m.ece).toBeCloseTo(0.05);
    expect(m.macroF1).toBeGreaterThan(0.7);
  });

  it('maps a model with another label map into the dataset labels (unknown breeds count as wrong)', () => {
    // Model knows [c, a, x]; dataset [a, b, c]. Row 0: top-1 'x' (not a dataset label), row 1: top-1 'a'.
    const ranked = rankPredictions(Float32Array.from([0.1, 0.2, 0.7, 0.1, 0.8, 0.1]), ['c', 'a', 'x'], labels, 5);
    expect(Array.from(ranked.ranked)).toEqual([-1, 0, 2, 0, 2, -1]);
    const m = computeMetrics(ranked, Int32Array.from([0, 0]), labels);
    expect(m.top1).toBe(0.5);
    expect(m.top5).toBe(1);
  });
});

describe('gate', () => {
  it('promotes the first model of a stack above the floor, rejects it below', () => {
    expect(decide(metricsOf([20, 20, 0]), null, gate, null).decision).toBe('promote');
    const low = decide(metricsOf([5, 5, 5]), null, gate, null);
    expect(low.decision).toBe('reject');
    expect(low.reason).toMatch(/first model: top-1 25\.0% \(floor 30\.0%\)/);
  });

  it('promotes a challenger that beats the champion by the margin without a class collapsing', () => {
    const r = decide(metricsOf([18, 18, 18]), metricsOf([17, 17, 17]), gate, null);
    expect(r.decision).toBe('promote');
    expect(r.reason).toMatch(/^promote: /);
    expect(r.checks.every((c) => c.passed)).toBe(true);
  });

  it('rejects a worse or equal challenger, naming the numbers', () => {
    const r = decide(metricsOf([15, 15, 15]), metricsOf([17, 17, 17]), gate, null);
    expect(r.decision).toBe('reject');
    expect(r.reason).toMatch(/top-1 75\.0% vs champion 85\.0% \(needs ≥ 85\.5%/);
    expect(decide(metricsOf([17, 17, 17]), metricsOf([17, 17, 17]), gate, null).decision).toBe('reject');
  });

  it('rejects a better challenger when one class drops too far', () => {
    const r = decide(metricsOf([20, 20, 12]), metricsOf([16, 16, 16]), gate, null);
    expect(r.decision).toBe('reject');
    expect(r.reason).toMatch(/largest per-class recall drop: c 20\.0% \(limit 15\.0%\)/);
  });

  it('judges class drops only on classes with enough test examples', () => {
    // 5 examples per class: class c falls from 5/5 to 3/5 (40%), but 5 < minClassSupport (10).
    const few = decide(metricsOf([5, 5, 3], 5), metricsOf([2, 2, 5], 5), { ...gate, minTestExamples: 10 }, null);
    expect(few.checks.find((c) => c.rule === 'max_class_drop')).toMatchObject({
      passed: true,
      detail: 'no class in common with at least 10 test examples to compare',
    });
    expect(few.decision).toBe('promote');
    const enough = decide(metricsOf([5, 5, 3], 5), metricsOf([2, 2, 5], 5), { ...gate, minTestExamples: 10, minClassSupport: 5 }, null);
    expect(enough.decision).toBe('reject');
  });

  it('rejects on too few test examples', () => {
    const r = decide(metricsOf([5, 5, 5], 6), metricsOf([1, 1, 1], 6), gate, null);
    expect(r.decision).toBe('reject');
    expect(r.reason).toMatch(/18 test examples \(gate needs at least 40\)/);
  });

  it('with requireShadow, needs enough shared shadow requests where the challenger is at least as accurate', () => {
    const g = { ...gate, requireShadow: true, minShadowPredictions: 30 };
    const better = metricsOf([18, 18, 18]);
    const champ = metricsOf([17, 17, 17]);
    expect(decide(better, champ, g, null).reason).toMatch(/no shadow traffic yet/);
    expect(decide(better, champ, g, { pairs: 10, challengerAccuracy: 0.9, championAccuracy: 0.8 }).decision).toBe('reject');
    expect(decide(better, champ, g, { pairs: 40, challengerAccuracy: 0.7, championAccuracy: 0.8 }).decision).toBe('reject');
    expect(decide(better, champ, g, { pairs: 40, challengerAccuracy: 0.85, championAccuracy: 0.8 }).decision).toBe('promote');
  });
});
