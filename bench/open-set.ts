/**
 * Open-set benchmark (`npm run bench:open-set`): calibrates and measures the two answers
 * POST /classify gives besides a breed, and model zero's accuracy, on the default backbone.
 *
 *  - "this doesn't look like a dog": the ImageNet head's probability mass on its dog
 *    classes (core/model/catalog.ts IMAGENET) below `inference.openSet.notADogBelow`. The
 *    threshold is chosen from dog photos only (train + validation split: at most 1% of
 *    them rejected), then measured on what it never saw: the test split's dog photos
 *    (false rejections) and non-dog images (false acceptances), real ones shipped by Debian
 *    packages (see workloads/inference/test/fixtures/not-dogs.ts) and synthetic ones.
 *  - "a dog, but none of our breeds": the breed head's top-1 confidence below
 *    `inference.openSet.unknownBreedBelow`. Calibrated by leaving breeds out: in each of 4
 *    folds 5 of the 20 breeds play the unknown dogs; a softmax head is trained on the other
 *    15 (the product's loop and hyperparameters, no augmentation variants) and model zero
 *    is restricted to them; the table gives, per threshold, the share of known-breed test
 *    photos turned away and of unknown-breed photos caught.
 *  - model zero: top-1 / top-5 of the ImageNet head restricted to the 20 breeds on the test split.
 *
 * Splits are the product's (SHA-256 of the photo bytes, preprocessing shares). Photos and
 * images are normalised exactly as the service does (toModelInput). Env: BENCH_QUICK=1
 * (8 photos per breed, 10 synthetic images, 1 fold: a smoke run), BENCH_NOT_DOG_DIRS
 * (colon-separated folders instead of the Debian ones), any CV_* config variable.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadConfig } from '../workloads/core/config/load';
import { toModelInput } from '../workloads/core/images/normalize-image';
import { configuredSpec, IMAGENET, loadImagenetHead } from '../workloads/core/model/backbones';
import { zeroShotPlan } from '../workloads/core/model/model-zero';
import { selectBackend } from '../workloads/core/tf/backend';
import { splitOf } from '../workloads/preprocessing/split';
import { IDENTITY } from '../workloads/training/features/augment';
import { FeatureExtractor } from '../workloads/training/features/extractor';
import { buildHead } from '../workloads/training/head';
import { FeatureSet, loopOptionsFor, predictProbs, runTrainingLoop } from '../workloads/training/loop';
import { NotDog, PACKAGED_NOT_DOG_DIRS, packagedNotDogs, syntheticNotDogs } from '../workloads/inference/test/fixtures/not-dogs';
import { appendResults, markdownTable, QUICK } from './results';
import { SHARED_DOGS } from './seed-raw-bucket';

const log = (m: string): void => void process.stderr.write(`${m}\n`);
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

interface Photo {
  label: string;
  split: string;
  bytes: Buffer;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const spec = configuredSpec(config.model);
  await selectBackend(log);
  const shares = { validationShare: config.preprocessing.validationShare, testShare: config.preprocessing.testShare };
  const perBreed = QUICK ? 8 : Infinity;
  const photos: Photo[] = readdirSync(SHARED_DOGS)
    .sort()
    .flatMap((label) =>
      readdirSync(join(SHARED_DOGS, label))
        .filter((f) => f.endsWith('.jpg'))
        .sort()
        .slice(0, perBreed)
        .map((f) => {
          const bytes = readFileSync(join(SHARED_DOGS, label, f));
          return { label, bytes, split: splitOf(createHash('sha256').update(bytes).digest('hex'), shares) };
        }),
    );
  const dirs = process.env.BENCH_NOT_DOG_DIRS ? process.env.BENCH_NOT_DOG_DIRS.split(':') : PACKAGED_NOT_DOG_DIRS;
  const packaged = packagedNotDogs(dirs).slice(0, QUICK ? 20 : undefined);
  const synthetic = await syntheticNotDogs(QUICK ? 10 : 60);
  log(`${photos.length} dog photos, ${packaged.length} packaged non-dog images (${dirs.join(', ')}), ${synthetic.length} synthetic`);

  // Normalise as the service does, then compute the backbone's pooled features on every core.
  const size = spec.inputSize;
  const normalised: Buffer[] = [];
  const keep: boolean[] = [];
  for (const item of [...photos.map((p) => p.bytes), ...packaged.map((n) => n.bytes), ...synthetic.map((n) => n.bytes)]) {
    try {
      const { pixels } = await toModelInput(item, size, config.images);
      normalised.push(
        await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
          .png()
          .toBuffer(),
      );
      keep.push(true);
    } catch (err) {
      log(`skipped an image the service would refuse: ${(err as Error).message}`);
      keep.push(false);
    }
  }
  const fx = await FeatureExtractor.start(spec, { workers: config.training.workers });
  const started = Date.now();
  const features = await fx.extract(normalised.map((jpeg) => ({ jpeg, aug: IDENTITY })));
  await fx.close();
  log(`features of ${normalised.length} images in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const dim = spec.outputShape[0];
  const rowsOf = (from: number, count: number): Float32Array => {
    // Map original indices to kept rows.
    const idx: number[] = [];
    let k = 0;
    keep.forEach((ok, i) => {
      if (ok) {
        if (i >= from && i < from + count) idx.push(k);
        k++;
      }
    });
    const out = new Float32Array(idx.length * dim);
    idx.forEach((r, j) => out.set(features.subarray(r * dim, (r + 1) * dim), j * dim));
    return out;
  };
  const dogRows = rowsOf(0, photos.length);
  const packagedRows = rowsOf(photos.length, packaged.length);
  const syntheticRows = rowsOf(photos.length + packaged.length, synthetic.length);
  const dogPhotos = photos.filter((_, i) => keep[i]);

  const head = await loadImagenetHead(spec);
  if (!head) throw new Error(`backbone ${spec.name} has no ImageNet head: nothing to calibrate`);
  const imagenetProbs = (rows: Float32Array): Float32Array => predictProbs(head, rows, rows.length / dim, [dim]);
  const dogMass = (probs: Float32Array): number[] => {
    const n = probs.length / IMAGENET.units;
    const { first, last } = IMAGENET.dogClasses;
    return Array.from({ length: n }, (_, i) => {
      let s = 0;
      for (let c = first; c <= last; c++) s += probs[i * IMAGENET.units + c + IMAGENET.offset];
      return s;
    });
  };
  const dogProbs = imagenetProbs(dogRows);
  const dogMassDogs = dogMass(dogProbs);
  const massPackaged = dogMass(imagenetProbs(packagedRows));
  const massSynthetic = dogMass(imagenetProbs(syntheticRows));

  // ---- "not a dog": threshold from calibration dog photos only (≤ 1% rejected).
  const calib = dogMassDogs.filter((_, i) => dogPhotos[i].split !== 'test').sort((a, b) => a - b);
  const chosen = Math.floor(calib[Math.floor(calib.length * 0.01)] * 100) / 100;
  const rate = (xs: number[], t: number, below: boolean) => xs.filter((x) => (below ? x < t : x >= t)).length / Math.max(1, xs.length);
  const testMass = dogMassDogs.filter((_, i) => dogPhotos[i].split === 'test');
  const notDogRows = [0.1, 0.2, 0.3, 0.4, 0.5, chosen, 0.6, 0.7]
    .filter((t, i, a) => a.indexOf(t) === i)
    .sort((a, b) => a - b)
    .map((t) => [
      `${t.toFixed(2)}${t === chosen ? ' (chosen)' : ''}`,
      pct(rate(testMass, t, true)),
      pct(rate(dogMassDogs, t, true)),
      pct(rate(massPackaged, t, true)),
      pct(rate(massSynthetic, t, true)),
    ]);
  const notDogTable = markdownTable(
    [
      'notADogBelow',
      `dog test photos rejected (n=${testMass.length})`,
      `all dog photos rejected (n=${dogMassDogs.length})`,
      `packaged non-dogs rejected (n=${massPackaged.length})`,
      `synthetic non-dogs rejected (n=${massSynthetic.length})`,
    ],
    notDogRows,
  );
  const missed = packaged.filter((_, i) => massPackaged[i] >= chosen).map((n: NotDog) => n.name);

  // ---- model zero on the test split, restricted to the breeds it knows.
  const plan = zeroShotPlan();
  const restricted = (probs: Float32Array, i: number, labels: string[]): number[] =>
    labels.map((l) => probs[i * IMAGENET.units + plan.imagenetClasses[plan.labels.indexOf(l)] + IMAGENET.offset]);
  const zeroTop = (labels: string[], which: (p: Photo) => boolean) => {
    let top1 = 0;
    let top5 = 0;
    let n = 0;
    dogPhotos.forEach((p, i) => {
      if (!which(p)) return;
      const r = restricted(dogProbs, i, labels);
      const order = r.map((v, j) => [v, j]).sort((a, b) => b[0] - a[0]);
      n++;
      if (labels[order[0][1]] === p.label) top1++;
      if (order.slice(0, 5).some(([, j]) => labels[j] === p.label)) top5++;
    });
    return { top1: top1 / n, top5: top5 / n, n };
  };
  const zero = zeroTop(plan.labels, (p) => p.split === 'test');
  const zeroAll = zeroTop(plan.labels, () => true);

  // ---- "none of our breeds": leave-breeds-out folds.
  const breeds = [...new Set(dogPhotos.map((p) => p.label))].sort();
  const folds = QUICK ? 1 : 4;
  const known: { trained: number[]; zero: number[] } = { trained: [], zero: [] };
  const unknown: { trained: number[]; zero: number[] } = { trained: [], zero: [] };
  const knownVal: number[] = [];
  for (let f = 0; f < folds; f++) {
    const out = new Set(breeds.filter((_, i) => i % 4 === f));
    const inLabels = breeds.filter((b) => !out.has(b));
    const set = (split: string): FeatureSet & { idx: number[] } => {
      const idx = dogPhotos.map((p, i) => (p.split === split && !out.has(p.label) ? i : -1)).filter((i) => i >= 0);
      const data = new Float32Array(idx.length * dim);
      idx.forEach((r, j) => data.set(dogRows.subarray(r * dim, (r + 1) * dim), j * dim));
      return {
        n: idx.length,
        shape: [dim],
        variants: [data],
        labels: Int32Array.from(idx, (i) => inLabels.indexOf(dogPhotos[i].label)),
        idx,
      };
    };
    const train = set('train');
    const val = set('validation');
    const t = config.training;
    const parts = await buildHead(spec, inLabels.length, t.seed);
    await runTrainingLoop(parts, train, val, { ...loopOptionsFor(t, inLabels.length, train.labels), fineTuneEpochs: 0 });
    const testIdx = dogPhotos.map((p, i) => (p.split === 'test' ? i : -1)).filter((i) => i >= 0);
    const rows = new Float32Array(testIdx.length * dim);
    testIdx.forEach((r, j) => rows.set(dogRows.subarray(r * dim, (r + 1) * dim), j * dim));
    const probs = predictProbs(parts.head, rows, testIdx.length, [dim]);
    const valProbs = predictProbs(parts.head, val.variants[0], val.n, [dim]);
    for (let j = 0; j < val.n; j++) knownVal.push(Math.max(...valProbs.subarray(j * inLabels.length, (j + 1) * inLabels.length)));
    testIdx.forEach((i, j) => {
      const conf = Math.max(...probs.subarray(j * inLabels.length, (j + 1) * inLabels.length));
      const r = restricted(dogProbs, i, inLabels);
      const sum = r.reduce((a, b) => a + b, 0);
      const zeroConf = Math.max(...r) / sum;
      const bucket = out.has(dogPhotos[i].label) ? unknown : known;
      bucket.trained.push(conf);
      bucket.zero.push(zeroConf);
    });
    parts.head.dispose();
    log(`fold ${f + 1}/${folds}: unknown breeds ${[...out].join(', ')}`);
  }
  knownVal.sort((a, b) => a - b);
  // ≤ 5% of known-breed validation photos turned away by the trained head.
  const chosenU = Math.floor(knownVal[Math.floor(knownVal.length * 0.05)] * 100) / 100;
  const unknownRows = [0.2, 0.3, 0.4, 0.5, chosenU, 0.6, 0.7]
    .filter((t, i, a) => a.indexOf(t) === i)
    .sort((a, b) => a - b)
    .map((t) => [
      `${t.toFixed(2)}${t === chosenU ? ' (chosen)' : ''}`,
      pct(rate(known.trained, t, true)),
      pct(rate(unknown.trained, t, true)),
      pct(rate(known.zero, t, true)),
      pct(rate(unknown.zero, t, true)),
    ]);
  const unknownTable = markdownTable(
    [
      'unknownBreedBelow',
      `trained head: known-breed test photos turned away (n=${known.trained.length})`,
      `trained head: unknown-breed photos caught (n=${unknown.trained.length})`,
      'model zero: known turned away',
      'model zero: unknown caught',
    ],
    unknownRows,
  );

  const body = [
    `Backbone ${spec.name} at ${size} px; ${dogPhotos.length} dog photos (${testMass.length} in the test split), ` +
      `${massPackaged.length} non-dog images from Debian packages, ${massSynthetic.length} synthetic${QUICK ? ' (QUICK run)' : ''}.`,
    '',
    `**Not a dog** (ImageNet dog-class mass below the threshold; chosen so ≤ 1% of train+validation dog photos are rejected):`,
    '',
    notDogTable,
    '',
    `Packaged non-dogs accepted as dogs at ${chosen.toFixed(2)}: ${missed.map((m) => m.split('/').slice(-2).join('/')).join(', ') || 'none'}.`,
    '',
    `**Model zero** (ImageNet head restricted to ${plan.labels.length} breeds, no training): test top-1 ${pct(zero.top1)}, top-5 ${pct(zero.top5)} (n=${zero.n}); all photos top-1 ${pct(zeroAll.top1)} (n=${zeroAll.n}).`,
    '',
    `**None of our breeds** (top-1 confidence below the threshold; ${folds} leave-5-breeds-out fold${folds > 1 ? 's' : ''}; chosen so ≤ 5% of known-breed validation photos are turned away by the trained head):`,
    '',
    unknownTable,
  ].join('\n');
  process.stdout.write(`\n${body}\n`);
  appendResults('bench:open-set', body);
  head.dispose();
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
