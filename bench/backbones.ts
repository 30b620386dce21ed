/**
 * Backbone and input-size benchmark (`npm run bench:backbones`): the measurements behind
 * the default `model.backbone` and `model.inputSize` (workloads/training/README.md).
 *
 * For each candidate (MobileNetV2-0.35 at 224 px; MobileNetV2-1.0 at 160, 192 and 224 px):
 *  - accuracy: frozen features of every photo (normalised as the service does), a softmax
 *    head trained by the product's loop and hyperparameters on the product's split (SHA-256
 *    of the photo bytes), no augmentation variants; validation and test top-1 / top-5;
 *  - serving cost: the trunk on one image at a time in this process (one WASM thread, as
 *    each inference worker runs it), median wall ms and CPU ms per image over rounds that
 *    alternate between the candidates, so the machine's other load hits all of them alike;
 *  - cycle cost: CPU ms per image of batched feature extraction (2 worker threads), times
 *    the trunk passes of a cold cycle on all photos (train × (1 + augment.variants) +
 *    validation + test) gives the extraction CPU of a cold cycle.
 * Env: BENCH_QUICK=1 (10 photos per breed, 1 round: a smoke run), BENCH_ROUNDS (5).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackboneName } from '../workloads/core/config/schema';
import { loadConfig } from '../workloads/core/config/load';
import { decodeRgb } from '../workloads/core/images/normalize-image';
import { baseSpec, BackboneSpec, loadTrunk } from '../workloads/core/model/backbones';
import { fuseTrunkChecked } from '../workloads/core/model/fused-trunk';
import { selectBackend, tf } from '../workloads/core/tf/backend';
import { splitOf } from '../workloads/preprocessing/split';
import { computeMetrics, rankPredictions } from '../workloads/evaluation/metrics';
import { IDENTITY } from '../workloads/training/features/augment';
import { FeatureExtractor } from '../workloads/training/features/extractor';
import { buildHead } from '../workloads/training/head';
import { FeatureSet, loopOptionsFor, predictProbs, runTrainingLoop } from '../workloads/training/loop';
import { median } from './proc-stats';
import { appendResults, markdownTable, QUICK } from './results';
import { SHARED_DOGS } from './seed-raw-bucket';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 5));
const CANDIDATES: Array<[BackboneName, number]> = [
  ['mobilenet_v2_035', 224],
  ['mobilenet_v2_100', 160],
  ['mobilenet_v2_100', 192],
  ['mobilenet_v2_100', 224],
];
const log = (m: string): void => void process.stderr.write(`${m}\n`);
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const cpuNow = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function main(): Promise<void> {
  const config = loadConfig();
  await selectBackend(log);
  const shares = { validationShare: config.preprocessing.validationShare, testShare: config.preprocessing.testShare };
  const breeds = readdirSync(SHARED_DOGS).sort();
  const photos = breeds.flatMap((label, y) =>
    readdirSync(join(SHARED_DOGS, label))
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .slice(0, QUICK ? 10 : undefined)
      .map((f) => {
        const jpeg = readFileSync(join(SHARED_DOGS, label, f));
        return { y, jpeg, split: splitOf(createHash('sha256').update(jpeg).digest('hex'), shares) };
      }),
  );
  const count = (s: string) => photos.filter((p) => p.split === s).length;
  const passes = count('train') * (1 + config.training.augment.variants) + count('validation') + count('test');
  const t = config.training;
  const rows: string[][] = [];
  const specs = CANDIDATES.map(([name, size]) => baseSpec(name, '', size));

  // Serving cost: one image at a time, rounds alternating between candidates.
  // As the inference workers serve them: layers backbones with batch-norm folded (fused-trunk.ts).
  const trunks = await Promise.all(specs.map(async (s) => fuseTrunkChecked(await loadTrunk(s)).trunk));
  const wall: number[][] = specs.map(() => []);
  const cpu: number[][] = specs.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [c, spec] of specs.entries()) {
      const size = spec.inputSize;
      const inputs = await Promise.all(photos.slice(0, 8).map((p) => decodeRgb(p.jpeg, size)));
      tf.tidy(() => trunks[c].apply(tf.tensor4d(inputs[0], [1, size, size, 3], 'int32')).dataSync()); // warm
      const w0 = performance.now();
      const c0 = cpuNow();
      for (const px of inputs) tf.tidy(() => trunks[c].apply(tf.tensor4d(px, [1, size, size, 3], 'int32')).dataSync());
      wall[c].push((performance.now() - w0) / inputs.length);
      cpu[c].push((cpuNow() - c0) / inputs.length);
    }
  }
  trunks.forEach((x) => x.dispose());

  for (const [c, spec] of specs.entries()) {
    log(`${spec.name} at ${spec.inputSize} px: features of ${photos.length} photos`);
    const fx = await FeatureExtractor.start(spec, { workers: t.workers });
    const c0 = cpuNow();
    const w0 = Date.now();
    const features = await fx.extract(photos.map((p) => ({ jpeg: p.jpeg, aug: IDENTITY })));
    const extractCpu = (cpuNow() - c0) / photos.length;
    const extractWall = (Date.now() - w0) / photos.length;
    await fx.close();
    const dim = spec.outputShape[0];
    const set = (split: string): FeatureSet => {
      const idx = photos.map((p, i) => (p.split === split ? i : -1)).filter((i) => i >= 0);
      const data = new Float32Array(idx.length * dim);
      idx.forEach((r, j) => data.set(features.subarray(r * dim, (r + 1) * dim), j * dim));
      return { n: idx.length, shape: [dim], variants: [data], labels: Int32Array.from(idx, (i) => photos[i].y) };
    };
    const [train, val, test] = ['train', 'validation', 'test'].map(set);
    const parts = await buildHead(spec as BackboneSpec, breeds.length, t.seed);
    await runTrainingLoop(parts, train, val, { ...loopOptionsFor(t, breeds.length, train.labels), fineTuneEpochs: 0 });
    const score = (s: FeatureSet) =>
      computeMetrics(rankPredictions(predictProbs(parts.head, s.variants[0], s.n, [dim]), breeds, breeds), s.labels, breeds);
    const v = score(val);
    const te = score(test);
    parts.head.dispose();
    rows.push([
      `${spec.name} @ ${spec.inputSize}`,
      pct(v.top1),
      `${pct(te.top1)} / ${pct(te.top5)}`,
      `${median(wall[c]).toFixed(1)} / ${median(cpu[c]).toFixed(1)}`,
      `${extractWall.toFixed(1)} / ${extractCpu.toFixed(1)}`,
      `${((passes * extractCpu) / 1000).toFixed(0)} s`,
    ]);
  }
  const body = [
    `${photos.length} photos (train ${count('train')} / validation ${count('validation')} / test ${count('test')}); ` +
      `serving cost: median of ${ROUNDS} alternating round(s) of 8 single images; a cold cycle makes ${passes} trunk passes${QUICK ? ' (QUICK run)' : ''}.`,
    '',
    markdownTable(
      [
        'backbone @ input px',
        'validation top-1',
        'test top-1 / top-5',
        'one image, 1 thread: wall / CPU ms',
        'batched extraction, 2 workers: wall / CPU ms per image',
        'cold-cycle extraction CPU',
      ],
      rows,
    ),
  ].join('\n');
  process.stdout.write(`\n${body}\n`);
  appendResults('bench:backbones (frozen features + softmax head; serving and extraction cost)', body);
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
