import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../config/load';
import { BREEDS, type Breed } from '../dogapi/breeds';
import { IMAGENET, loadImagenetHead } from '../model/backbones';
import { loadClassifier } from '../model/classifier';
import { isComplete } from '../model/complete';
import { loadHead, readModelMeta } from '../model/model-version';
import { ensureModelZero, modelZeroEvents, zeroShotPlan } from '../model/model-zero';
import { readPointer } from '../model/registry';
import { LocalObjectStore } from '../storage/local-object-store';
import { selectBackend, tf } from '../tf/backend';
import { computeMetrics, rankPredictions } from '../../evaluation/metrics';
import { decodeRgb } from '../images/normalize-image';
import { photosOf, SHARED } from '../../inference/test/fixtures/test-model';

/**
 * Model zero: the breed → ImageNet mapping (defined once, in the breed table), the head it
 * becomes (the ImageNet head restricted to those classes), its creation at an empty
 * registry (idempotent, one winner when raced), and a breed without an ImageNet class.
 */
const LABELS_TXT = path.join(SHARED, 'models', 'mobilenet_v2_100', 'imagenet_labels.txt');
const model = loadConfig({ env: {} }).model;

let dir: string;
let store: LocalObjectStore;
beforeAll(async () => {
  await selectBackend(() => undefined);
});
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cv-zero-'));
  store = new LocalObjectStore(dir);
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('the breed → ImageNet class mapping', () => {
  it("names each breed's own ImageNet class (checked against the head's class names)", () => {
    const names = readFileSync(LABELS_TXT, 'utf8').split('\n');
    const canonical = (s: string) => s.toLowerCase().replace(/[^a-z]/g, '');
    for (const b of BREEDS) {
      expect(b.imagenetClass).not.toBeNull();
      // ImageNet's names: "Pembroke, Pembroke Welsh corgi", "Maltese dog, ...", "German shepherd, ..."
      expect(canonical(names[b.imagenetClass! + IMAGENET.offset])).toContain(b.label.split('_')[0]);
      const { first, last } = IMAGENET.dogClasses;
      expect(b.imagenetClass!).toBeGreaterThanOrEqual(first);
      expect(b.imagenetClass!).toBeLessThanOrEqual(last);
    }
  });

  it('leaves a breed without an ImageNet class out of model zero, and says so', () => {
    const table: Breed[] = [
      ...BREEDS.slice(0, 3),
      { label: 'bernedoodle', dogCeo: 'bernedoodle', display: 'Bernedoodle', wordnetId: '', imagenetClass: null },
    ];
    const plan = zeroShotPlan(table);
    expect(plan.labels).toEqual([...BREEDS.slice(0, 3)].map((b) => b.label).sort());
    expect(plan.absent).toEqual(['bernedoodle']);
    expect(() => zeroShotPlan([{ ...BREEDS[0], imagenetClass: 1000 }])).toThrow(/not an ImageNet-1k class/);
  });
});

describe('model zero', () => {
  it('is the ImageNet head restricted to the breeds, renormalised: a loadable head with the training format', async () => {
    const outcome = await ensureModelZero({ store, model });
    expect(outcome.promoted).toBe(true);
    const version = outcome.version!;
    const meta = await readModelMeta(store, version);
    expect(meta).toMatchObject({ kind: 'zero-shot', datasetVersion: null, trainingRunId: null, labels: zeroShotPlan().labels });
    expect(meta.backbone).toMatchObject({ name: 'mobilenet_v2_100', cut: null, outputShape: [1280], inputSize: 224 });

    const head = await loadHead(store, version);
    expect(head.layers.map((l) => l.name)).toEqual(['features', 'logits', 'probs']);
    const imagenet = (await loadImagenetHead(meta.backbone))!;
    const plan = zeroShotPlan();
    const x = tf.randomUniform([3, 1280], 0, 2, 'float32', 5);
    const ours = (head.predict(x) as tf.Tensor).arraySync() as number[][];
    const full = (imagenet.predict(x) as tf.Tensor).arraySync() as number[][];
    for (let i = 0; i < 3; i++) {
      const picked = plan.imagenetClasses.map((c) => full[i][c + IMAGENET.offset]);
      const sum = picked.reduce((a, b) => a + b, 0);
      picked.forEach((p, j) => expect(ours[i][j]).toBeCloseTo(p / sum, 5));
    }
    head.dispose();
    imagenet.dispose();
    x.dispose();
  });

  it('names the breed of real photos with no training', async () => {
    const { version } = await ensureModelZero({ store, model });
    const classifier = await loadClassifier(store, version!);
    let hits = 0;
    const breeds = ['beagle', 'pug', 'samoyed', 'boxer'];
    for (const breed of breeds) {
      for (const file of await photosOf(breed, 3)) {
        const out = await classifier.predict(await decodeRgb(readFileSync(file), 224), 1);
        const probs = Array.from(out.probs[0]);
        if (classifier.meta.labels[probs.indexOf(Math.max(...probs))] === breed) hits++;
        expect(out.dogProbability![0]).toBeGreaterThan(0.5);
      }
    }
    expect(hits).toBeGreaterThanOrEqual(10); // of 12; chance is 1/20
    classifier.dispose();
  });

  it('is created once: a second call and a racing call change nothing, and only one of them records the events', async () => {
    const [a, b] = await Promise.all([ensureModelZero({ store, model }), ensureModelZero({ store, model })]);
    expect([a.promoted, b.promoted].sort()).toEqual([false, true]);
    expect(a.version).toBe(b.version);
    const winner = a.promoted ? a : b;
    expect(modelZeroEvents(winner).map((e) => e.event)).toEqual(['registration', 'promotion']);
    expect(modelZeroEvents(a.promoted ? b : a)).toEqual([]);
    const pointer = (await readPointer(store, 'production')).pointer!;
    expect(pointer).toMatchObject({ version: winner.version, previousVersion: null, event: 'promotion' });
    expect(await isComplete(store, winner.version!)).toBe(true);
    const again = await ensureModelZero({ store, model });
    expect(again).toMatchObject({ version: null, promoted: false, reason: expect.stringMatching(/has a champion/) });
    expect((await store.list('registry/history/')).length).toBe(1);
  });

  it('is not made when it is switched off or the backbone has no ImageNet head', async () => {
    expect(await ensureModelZero({ store, model: { ...model, zeroShot: false } })).toMatchObject({ version: null, promoted: false });
    expect(await ensureModelZero({ store, model: { ...model, backbone: 'mobilenet_v2_035' } })).toMatchObject({
      version: null,
      reason: expect.stringMatching(/no ImageNet head/),
    });
    expect((await readPointer(store, 'production')).pointer).toBeUndefined();
  });

  it('scores a breed it does not know as wrong (a challenger that learned it can beat it there)', async () => {
    const table = BREEDS.map((b) => (b.label === 'pug' ? { ...b, imagenetClass: null } : b));
    const { version } = await ensureModelZero({ store, model, breeds: table });
    const classifier = await loadClassifier(store, version!);
    expect(classifier.meta.labels).not.toContain('pug');
    const datasetLabels = ['beagle', 'pug'];
    const rows: Float32Array[] = [];
    const truth: number[] = [];
    for (const [y, breed] of datasetLabels.entries()) {
      for (const file of await photosOf(breed, 2)) {
        rows.push((await classifier.predict(await decodeRgb(readFileSync(file), 224), 1)).probs[0]);
        truth.push(y);
      }
    }
    const probs = new Float32Array(rows.length * classifier.meta.labels.length);
    rows.forEach((r, i) => probs.set(r, i * r.length));
    const metrics = computeMetrics(rankPredictions(probs, classifier.meta.labels, datasetLabels), Int32Array.from(truth), datasetLabels);
    expect(metrics.perClass.find((c) => c.label === 'pug')!.recall).toBe(0);
    classifier.dispose();
  });
});
