import { loadConfig } from '../../core/config/load';
import { decide, type PairedAnswers } from '../gate';
import { minimumDetectableEffect, pairedComparison, proportionBounds } from '../paired-test';

const choose = (n: number, k: number): number => (k === 0 ? 1 : (choose(n, k - 1) * (n - k + 1)) / k);
const binomialPmf = (k: number, n: number, p: number): number => choose(n, k) * p ** k * (1 - p) ** (n - k);
import { computeMetrics, EvalMetrics, rankPredictions } from '../metrics';

const labels = ['a', 'b', 'c'];
const gate = loadConfig({
  env: {},
  overrides: {
    gate: { alpha: 0.05, minMargin: 0, minTestExamples: 40, maxClassDrop: 0.15, classFloor: 0.5, floorTop1: 0.3, requireShadow: false },
  },
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

/** Paired answers: per class, how many photos both / only the challenger / only the champion / neither got right. */
type Cell = { both?: number; onlyChallenger?: number; onlyChampion?: number; neither?: number };
function answers(cells: Record<string, Cell>, championLabels?: string[], noChampion = false, challengerLabels?: string[]): PairedAnswers {
  const names = Object.keys(cells);
  const truth: number[] = [];
  const ch: number[] = [];
  const cp: number[] = [];
  names.forEach((label, j) => {
    const wrong = (j + 1) % names.length;
    const c = cells[label];
    const push = (n: number | undefined, a: boolean, b: boolean) => {
      for (let i = 0; i < (n ?? 0); i++) {
        truth.push(j);
        ch.push(a ? j : wrong);
        cp.push(b ? j : wrong);
      }
    };
    push(c.both, true, true);
    push(c.onlyChallenger, true, false);
    push(c.onlyChampion, false, true);
    push(c.neither, false, false);
  });
  return {
    labels: names,
    truth: Int32Array.from(truth),
    challenger: Int32Array.from(ch),
    champion: noChampion ? null : Int32Array.from(cp),
    championLabels: new Set(championLabels ?? names),
    challengerLabels: new Set(challengerLabels ?? names),
  };
}

describe('paired statistics', () => {
  it('is the exact one-sided McNemar test, with an interval that agrees with it', () => {
    const r = pairedComparison(10, 2, 100, 0.05);
    expect(r.effect).toBeCloseTo(0.08);
    expect(r.pBetter).toBeCloseTo((66 + 12 + 1) / 4096, 10);
    expect(r.low).toBeGreaterThan(0);
    for (let b = 0; b <= 25; b++) {
      for (let c = 0; c <= 25; c++) {
        const t = pairedComparison(b, c, 200, 0.05);
        if (b + c > 0) expect(t.low > 0).toBe(t.pBetter < 0.05);
        expect(t.low).toBeLessThanOrEqual(t.effect + 1e-12);
        expect(t.high).toBeGreaterThanOrEqual(t.effect - 1e-12);
      }
    }
    expect(pairedComparison(0, 0, 50, 0.05)).toMatchObject({ effect: 0, pBetter: 1, pWorse: 1 });
    expect(() => pairedComparison(3, 4, 5, 0.05)).toThrow(/b \+ c ≤ n/);
  });

  it('states the smallest improvement it can detect (at a given power), and none when too few photos differ', () => {
    // 4 discordant pairs can never reach p < 0.05 (all 4 in favour: p = 1/16).
    expect(minimumDetectableEffect(4, 100, 0.05)).toBeNull();
    const mde = minimumDetectableEffect(20, 200, 0.05, 0.8)!;
    // At that effect the discordant pairs favour the challenger with π = (1 + effect·n/m) / 2, and the test's power is 80%.
    const pi = (1 + (mde * 200) / 20) / 2;
    let power = 0;
    for (let k = 15; k <= 20; k++) power += binomialPmf(k, 20, pi); // P(p < 0.05) = P(b ≥ 15 of 20)
    expect(power).toBeCloseTo(0.8, 3);
    expect(minimumDetectableEffect(40, 400, 0.05, 0.8)!).toBeLessThan(mde);
    // The gate states it at 95% power: a larger improvement than at 80%.
    expect(pairedComparison(12, 8, 200, 0.05).detectable).toBeGreaterThan(mde);
    expect(pairedComparison(12, 8, 200, 0.05).detectable).toBeCloseTo(minimumDetectableEffect(20, 200, 0.05, 0.95)!, 10);
  });

  it('bounds a proportion (Clopper–Pearson, one-sided)', () => {
    expect(proportionBounds(0, 5, 0.05).high).toBeCloseTo(1 - 0.05 ** (1 / 5), 6);
    expect(proportionBounds(5, 5, 0.05).low).toBeCloseTo(0.05 ** (1 / 5), 6);
    expect(proportionBounds(0, 0, 0.05)).toEqual({ low: 0, high: 1 });
  });
});

describe('gate', () => {
  it('promotes the first model of a stack when its top-1 lower bound clears the floor', () => {
    const good = decide(answers({ a: { both: 20 }, b: { both: 15, neither: 5 }, c: { both: 18, neither: 2 } }, [], true), gate, null);
    expect(good.decision).toBe('promote');
    expect(good.reason).toMatch(/first model: top-1 88\.3% \(lower bound/);
    const low = decide(
      answers({ a: { both: 5, neither: 15 }, b: { both: 5, neither: 15 }, c: { both: 5, neither: 15 } }, [], true),
      gate,
      null,
    );
    expect(low.decision).toBe('reject');
    expect(low.reason).toMatch(/first model: top-1 25\.0%/);
  });

  it('promotes only a significantly better challenger, and says by how much and how sure', () => {
    const better = decide(
      answers({
        a: { both: 14, onlyChallenger: 4 },
        b: { both: 15, onlyChallenger: 3, neither: 2 },
        c: { both: 16, onlyChallenger: 3, onlyChampion: 1 },
      }),
      gate,
      null,
    );
    expect(better.decision).toBe('promote');
    expect(better.reason).toMatch(
      /better: top-1 \d+\.\d% vs champion \d+\.\d%: \+15\.\d pt, 90% CI \[\+\d+\.\d pt, \+\d+\.\d pt\], p = 0\.006/,
    );
    expect(better.statistics.overall).toMatchObject({ n: 58, b: 10, c: 1 });
    // Two points better on 60 photos is noise: kept out.
    const noise = decide(
      answers({
        a: { both: 18, onlyChallenger: 2 },
        b: { both: 18, onlyChallenger: 1, onlyChampion: 1 },
        c: { both: 19, onlyChallenger: 1 },
      }),
      gate,
      null,
    );
    expect(noise.decision).toBe('reject');
    expect(noise.reason).toMatch(/not significantly better: .* p = 0\.\d{3}/);
    // Same accuracy: never.
    expect(
      decide(answers({ a: { both: 15, onlyChallenger: 5, onlyChampion: 5 }, b: { both: 20 }, c: { both: 20 } }), gate, null).decision,
    ).toBe('reject');
  });

  it('judges a breed the champion lacks for learning (the champion scores 0 there) and the old breeds for forgetting', () => {
    // The champion knows a and b; the challenger learnt c (17 of 20) and is the same on a and b.
    const learnt = answers(
      { a: { both: 18, onlyChallenger: 1, onlyChampion: 1 }, b: { both: 19, neither: 1 }, c: { onlyChallenger: 17, neither: 3 } },
      ['a', 'b'],
    );
    const r = decide(learnt, gate, null);
    expect(r.decision).toBe('promote');
    expect(r.statistics.classes.find((c) => c.label === 'c')).toMatchObject({ isNew: true, champion: 0, challenger: 0.85 });
    // …but not at the old breeds' expense: same new breed, old breeds significantly worse.
    const forgot = answers({ a: { both: 10, onlyChampion: 10 }, b: { both: 19, neither: 1 }, c: { onlyChallenger: 17, neither: 3 } }, [
      'a',
      'b',
    ]);
    const f = decide(forgot, gate, null);
    expect(f.decision).toBe('reject');
    expect(f.reason).toMatch(/forgot a \(100\.0% → 50\.0%, n=20\)/);
  });

  it('never promotes a challenger that cannot name a breed the champion names, photos of it or not', () => {
    // Model zero names d zero-shot; no trusted photo of d has arrived, so the challenger was
    // trained (and is evaluated) without it. Better on a, b and c, it would still drop d.
    const cells = { a: { both: 14, onlyChallenger: 4 }, b: { both: 15, onlyChallenger: 3 }, c: { both: 16, onlyChallenger: 3 } };
    const r = decide(answers(cells, ['a', 'b', 'c', 'd'], false, ['a', 'b', 'c']), gate, null);
    expect(r.decision).toBe('reject');
    expect(r.reason).toMatch(/cannot name d, which the champion names/);
    expect(decide(answers(cells, ['a', 'b', 'c', 'd'], false, ['a', 'b', 'c', 'd']), gate, null).decision).toBe('promote');
  });

  it('needs a new breed named right more often than chance: 2 of 5 is learning, 0 of 5 is not', () => {
    // 19 breeds the champion knows (unchanged), and a 20th it has no column for: chance is 1 in 20.
    const old: Record<string, Cell> = Object.fromEntries(Array.from({ length: 19 }, (_, i) => [`b${i}`, { both: 4, neither: 1 }]));
    const known = Object.keys(old);
    const some = decide(answers({ ...old, fresh: { onlyChallenger: 2, neither: 3 } }, known), gate, null);
    expect(some.decision).toBe('promote');
    expect(some.reason).toMatch(/learnt fresh: 2 of 5 evaluation photos named right \(chance 5\.0%, p = 0\.023\)/);
    const none = decide(answers({ ...old, fresh: { onlyChallenger: 1, neither: 4 } }, known), gate, null);
    expect(none.decision).toBe('reject');
  });

  it('rejects a breed below its floor beyond its own uncertainty, and not one whose few photos cannot tell', () => {
    const low = decide(
      answers({ a: { both: 2, onlyChallenger: 0, neither: 18 }, b: { both: 20, onlyChallenger: 15 }, c: { both: 20 } }),
      gate,
      null,
    );
    expect(low.reason).toMatch(/below the floor beyond its uncertainty: a recall 10\.0% \(upper bound \d+\.\d% < floor 50\.0%, n=20\)/);
    const few = decide(answers({ a: { both: 1, neither: 2 }, b: { both: 20, onlyChallenger: 15 }, c: { both: 20 } }), gate, null);
    expect(few.checks.find((c) => c.rule === 'class_floors')?.passed).toBe(true);
    const strict = decide(
      answers({ a: { both: 1, neither: 2 }, b: { both: 20, onlyChallenger: 15 }, c: { both: 20 } }),
      { ...gate, classFloors: { a: 0.95 } },
      null,
    );
    expect(strict.checks.find((c) => c.rule === 'class_floors')?.passed).toBe(false);
  });

  it('decides nothing on too few evaluation photos: waiting for data', () => {
    const r = decide(answers({ a: { onlyChallenger: 6 }, b: { onlyChallenger: 6 }, c: { onlyChallenger: 6 } }), gate, null);
    expect(r.decision).toBe('reject');
    expect(r.reason).toMatch(/18 evaluation photos, the gate needs at least 40: waiting for data/);
  });

  it('with requireShadow, needs enough shared shadow requests where the challenger is at least as accurate', () => {
    const g = { ...gate, requireShadow: true, minShadowPredictions: 30 };
    const better = answers({ a: { both: 10, onlyChallenger: 10 }, b: { both: 20 }, c: { both: 20 } });
    expect(decide(better, g, null).reason).toMatch(/no shadow traffic yet/);
    expect(decide(better, g, { pairs: 10, challengerAccuracy: 0.9, championAccuracy: 0.8 }).decision).toBe('reject');
    expect(decide(better, g, { pairs: 40, challengerAccuracy: 0.7, championAccuracy: 0.8 }).decision).toBe('reject');
    expect(decide(better, g, { pairs: 40, challengerAccuracy: 0.85, championAccuracy: 0.8 }).decision).toBe('promote');
  });
});
