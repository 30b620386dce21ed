/**
 * Classification metrics, computed the same way for every model on the same examples:
 * top-1, top-5, per-class precision/recall/F1, macro F1, expected calibration error and
 * the confusion matrix. Predictions arrive already mapped into the DATASET's label space
 * (−1 for a label the dataset does not have), so a champion trained on fewer breeds is
 * scored on the same footing as a challenger that knows them all.
 */
export interface ClassMetrics {
  label: string;
  support: number;
  precision: number;
  recall: number;
  f1: number;
}

export interface EvalMetrics {
  n: number;
  top1: number;
  top5: number;
  macroF1: number;
  /** Expected calibration error over 10 equal-width confidence bins. */
  ece: number;
  perClass: ClassMetrics[];
  /** confusion[true][predicted] over `labels`; predictions outside the dataset's labels are not counted in it. */
  confusion: number[][];
  labels: string[];
}

export interface Predictions {
  /** n × k ranked predictions (dataset label indices, −1 = not a dataset label). */
  ranked: Int32Array;
  k: number;
  /** Probability of the top-1 prediction, per example. */
  confidence: Float32Array;
}

/** Ranks each row of an n × m probability matrix and maps model label indices to dataset indices. */
export function rankPredictions(probs: Float32Array, modelLabels: string[], datasetLabels: string[], k = 5): Predictions {
  const m = modelLabels.length;
  const n = probs.length / m;
  const toDataset = modelLabels.map((l) => datasetLabels.indexOf(l));
  const kk = Math.min(k, m);
  const ranked = new Int32Array(n * kk);
  const confidence = new Float32Array(n);
  const idx = Array.from({ length: m }, (_, i) => i);
  for (let r = 0; r < n; r++) {
    const row = probs.subarray(r * m, (r + 1) * m);
    const order = idx.slice().sort((a, b) => row[b] - row[a] || a - b);
    for (let j = 0; j < kk; j++) ranked[r * kk + j] = toDataset[order[j]];
    confidence[r] = row[order[0]];
  }
  return { ranked, k: kk, confidence };
}

const ratio = (a: number, b: number): number => (b > 0 ? a / b : 0);

export function computeMetrics(p: Predictions, truth: Int32Array, labels: string[]): EvalMetrics {
  const n = truth.length;
  const c = labels.length;
  const confusion = Array.from({ length: c }, () => new Array<number>(c).fill(0));
  let top1 = 0;
  let top5 = 0;
  const bins = Array.from({ length: 10 }, () => ({ count: 0, conf: 0, correct: 0 }));
  for (let i = 0; i < n; i++) {
    const y = truth[i];
    const pred = p.ranked[i * p.k];
    const hit = pred === y;
    if (hit) top1++;
    for (let j = 0; j < Math.min(5, p.k); j++) if (p.ranked[i * p.k + j] === y) top5++;
    if (pred >= 0) confusion[y][pred]++;
    const b = Math.min(9, Math.floor(p.confidence[i] * 10));
    bins[b].count++;
    bins[b].conf += p.confidence[i];
    bins[b].correct += hit ? 1 : 0;
  }
  const perClass: ClassMetrics[] = labels.map((label, j) => {
    const tp = confusion[j][j];
    let actual = 0;
    for (let i = 0; i < n; i++) if (truth[i] === j) actual++;
    let predicted = 0;
    for (let i = 0; i < c; i++) predicted += confusion[i][j];
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, actual);
    return { label, support: actual, precision, recall, f1: ratio(2 * precision * recall, precision + recall) };
  });
  const present = perClass.filter((m) => m.support > 0);
  const ece = bins.reduce((acc, b) => acc + (b.count > 0 ? (b.count / n) * Math.abs(b.correct / b.count - b.conf / b.count) : 0), 0);
  return {
    n,
    top1: ratio(top1, n),
    top5: ratio(top5, n),
    macroF1: ratio(
      present.reduce((a, m) => a + m.f1, 0),
      present.length,
    ),
    ece,
    perClass,
    confusion,
    labels,
  };
}

/** The compact form stored in warehouse rows and the registry (no confusion matrix). */
export function summarize(m: EvalMetrics): Record<string, unknown> {
  return {
    n: m.n,
    top1: m.top1,
    top5: m.top5,
    macroF1: m.macroF1,
    ece: m.ece,
    perClassRecall: Object.fromEntries(m.perClass.filter((c) => c.support > 0).map((c) => [c.label, c.recall])),
  };
}
