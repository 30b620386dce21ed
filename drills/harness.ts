import Table from 'cli-table3';
import { createHash } from 'node:crypto';
import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { type DeepPartial, loadConfig } from '../workloads/core/config/load';
import type { WorkloadConfig } from '../workloads/core/config/schema';
import { perceptualHash } from '../workloads/core/dataset/perceptual-hash';
import type { RawLabel } from '../workloads/core/dataset/raw-label';
import { toTrainingJpeg } from '../workloads/core/images/normalize-image';
import { rawKeys } from '../workloads/core/layout';
import { createLogger } from '../workloads/core/log';
import { readModelMeta } from '../workloads/core/model/model-version';
import { ensureModelZero, modelZeroEvents } from '../workloads/core/model/model-zero';
import { BREEDS } from '../workloads/core/dogapi/breeds';
import { readPointer } from '../workloads/core/model/registry';
import { type DataLake, openDataLake } from '../workloads/core/storage/data-lake';
import { writeJson } from '../workloads/core/storage/object-store';
import { DuckDbWarehouse } from '../workloads/core/warehouse/duckdb-warehouse';
import { evaluateAndGate } from '../workloads/evaluation/evaluate';
import { decide, type GateResult, type GateStatistics } from '../workloads/evaluation/gate';
import { type PairedComparison, pairedComparison } from '../workloads/evaluation/paired-test';
import { promote } from '../workloads/evaluation/promote';
import { scoreModel } from '../workloads/evaluation/score';
import { NothingToPreprocessError, runPreprocessing } from '../workloads/preprocessing/run';
import type { LabelledImage } from '../workloads/training/data';
import { trainModel } from '../workloads/training/train';
import { checkTrigger } from '../workloads/trigger/check';

/**
 * What the trust drills share: a loop on a fresh data root that runs the real steps
 * in-process (the functions the pipeline's entry points call: trigger check, preprocess,
 * train, evaluate, promote), photos from ../shared only, and a held-back set of photos the
 * loop never sees, on which every model (promoted or rejected) is scored. Each drill prints
 * one table and appends it, dated, to bench/RESULTS.md.
 */

const REPO = path.resolve(__dirname, '..');
const DOGS = path.resolve(REPO, '../shared/datasets/dogs');

export interface Photo {
  breed: string;
  file: string;
  bytes: Buffer;
  sha256: string;
}

/** Every shared photo of the given breeds (all breeds by default), in a stable order. */
export function sharedPhotos(breeds?: readonly string[]): Photo[] {
  const all = breeds ?? readdirSync(DOGS).sort();
  return all.flatMap((breed) =>
    readdirSync(path.join(DOGS, breed))
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .map((f) => {
        const bytes = readFileSync(path.join(DOGS, breed, f));
        return { breed, file: f, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
      }),
  );
}

/** A repeatable shuffle (seeded hash order). */
export function shuffled<T extends { sha256: string }>(items: readonly T[], seed: string): T[] {
  const key = (t: T) => createHash('sha256').update(`${seed}:${t.sha256}`).digest('hex');
  return [...items].sort((a, b) => key(a).localeCompare(key(b)));
}

/** Splits off `share` of each breed as held-back photos the loop never sees. */
export function holdBack(photos: readonly Photo[], share: number, seed: string): { heldBack: Photo[]; pool: Photo[] } {
  const heldBack: Photo[] = [];
  const pool: Photo[] = [];
  const byBreed = new Map<string, Photo[]>();
  for (const p of photos) byBreed.set(p.breed, [...(byBreed.get(p.breed) ?? []), p]);
  for (const list of byBreed.values()) {
    const order = shuffled(list, `held-back:${seed}`);
    const n = Math.round(list.length * share);
    heldBack.push(...order.slice(0, n));
    pool.push(...order.slice(n));
  }
  return { heldBack, pool };
}

export interface World {
  root: string;
  config: WorkloadConfig;
  lake: DataLake;
  warehouse: DuckDbWarehouse;
  /** Every label a model may be scored on (the held-back photos' breeds). */
  universe: string[];
  heldBack: { images: LabelledImage[]; breeds: string[] };
  close(): Promise<void>;
}

export async function openWorld(options: {
  overrides?: DeepPartial<WorkloadConfig>;
  heldBack: Photo[];
  root?: string;
  /** Breeds left out of model zero, as if the stack's breed list did not name them yet. */
  unknownToModelZero?: readonly string[];
}): Promise<World> {
  const root = options.root ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'cv-drill-')));
  const config = loadConfig({ overrides: { dataRoot: root, logLevel: 'silent', ...options.overrides } });
  const lake = openDataLake(config);
  const warehouse = await DuckDbWarehouse.open(path.join(root, 'warehouse.duckdb'));
  // As a fresh stack's service does: model zero (zero-shot) serves until a trained challenger beats it.
  // Model zero names the drill's breeds (the stack's breed list), less any it must not know yet.
  const known = new Set(options.heldBack.map((p) => p.breed));
  for (const b of options.unknownToModelZero ?? []) known.delete(b);
  const zero = await ensureModelZero({ store: lake.models, model: config.model, breeds: BREEDS.filter((b) => known.has(b.label)) });
  const events = modelZeroEvents(zero);
  if (events.length) await warehouse.insert('model_events', events);
  const universe = [...new Set(options.heldBack.map((p) => p.breed))].sort();
  // Held-back photos in the form every model sees (the training JPEG), labelled in the universe.
  const images: LabelledImage[] = [];
  for (const p of options.heldBack) {
    const { jpeg } = await toTrainingJpeg(p.bytes, config.preprocessing.imageSize, config.preprocessing.jpegQuality, config.images);
    images.push({ sourceId: p.sha256, jpeg, label: universe.indexOf(p.breed) });
  }
  return {
    root,
    config,
    lake,
    warehouse,
    universe,
    heldBack: { images, breeds: options.heldBack.map((p) => p.breed) },
    close: async () => {
      await warehouse.close();
      if (!options.root) await fs.rm(root, { recursive: true, force: true });
    },
  };
}

let ids = 0;
/** Stores photos with their true breed as the service's GET /predict does: the image API's label, trusted. */
export async function ingestTrusted(world: World, photos: readonly Photo[]): Promise<void> {
  for (const p of photos) {
    const id = `api-${String(++ids).padStart(6, '0')}-${p.sha256.slice(0, 8)}`;
    const imageKey = rawKeys.image(id, 'jpg');
    await world.lake.raw.write(imageKey, p.bytes);
    const label: RawLabel = {
      id,
      imageKey,
      label: p.breed,
      source: 'dogapi',
      trust: 'trusted',
      phash: await perceptualHash(p.bytes),
      labelledAt: new Date().toISOString(),
      sha256: p.sha256,
    };
    await writeJson(world.lake.raw, rawKeys.label(id), label, { ifGenerationMatch: '0' });
  }
}

export interface CycleOutcome {
  runId: string;
  fired: boolean;
  triggerReason: string;
  /** 'waiting for data' when the run found nothing new and trusted; else the gate's decision. */
  outcome: 'not fired' | 'waiting for data' | 'promote' | 'reject';
  datasetVersion: string | null;
  examples: number | null;
  evalN: number | null;
  modelVersion: string | null;
  /** The production model the challenger was judged against (before this cycle). */
  championVersion: string | null;
  gate: GateStatistics | null;
  reason: string;
  seconds: number;
}

/** One turn of the loop: trigger check, and when it fires the pipeline's steps, in order. */
export async function runCycle(world: World, cycle: number): Promise<CycleOutcome> {
  const started = Date.now();
  const runId = `drill-${String(cycle).padStart(3, '0')}`;
  const log = createLogger('drill', 'silent');
  const { config, lake, warehouse } = world;
  const championVersion = (await readPointer(lake.models, 'production')).pointer?.version ?? null;
  const base = { runId, championVersion, datasetVersion: null, examples: null, evalN: null, modelVersion: null, gate: null };
  const decision = await checkTrigger({ lake, warehouse, thresholds: config.trigger, intake: config, runId });
  if (!decision.fire) {
    return {
      ...base,
      fired: false,
      triggerReason: decision.reason,
      outcome: 'not fired',
      reason: decision.reason,
      seconds: (Date.now() - started) / 1000,
    };
  }
  let summary;
  try {
    summary = await runPreprocessing(
      { raw: lake.raw, datasets: lake.datasets, warehouse, log },
      { runId, settings: config.preprocessing, trust: config.trust, limits: config.images, concurrency: config.preprocessing.concurrency },
    );
  } catch (err) {
    if (!(err instanceof NothingToPreprocessError)) throw err;
    return {
      ...base,
      fired: true,
      triggerReason: decision.reason,
      outcome: 'waiting for data',
      reason: err.message,
      seconds: (Date.now() - started) / 1000,
    };
  }
  const trained = await trainModel({ config, runId, datasetVersion: summary.version, lake, warehouse, log });
  const gate = await evaluateAndGate({
    config,
    runId,
    modelVersion: trained.modelVersion,
    datasetVersion: summary.version,
    lake,
    warehouse,
    log,
  });
  if (gate.decision === 'promote') await promote({ config, runId, modelVersion: trained.modelVersion, lake, warehouse, log });
  return {
    ...base,
    fired: true,
    triggerReason: decision.reason,
    outcome: gate.decision,
    datasetVersion: summary.version,
    examples: summary.written,
    evalN: gate.statistics.n,
    modelVersion: trained.modelVersion,
    gate: gate.statistics,
    reason: gate.reason,
    seconds: (Date.now() - started) / 1000,
  };
}

export interface HeldBackScore {
  accuracy: number;
  /** Top-1 per held-back photo, in the universe's label indices (−1: a label outside it). */
  top1: Int32Array;
  recall: Record<string, number>;
}

const scores = new Map<string, HeldBackScore>();
/** A model version's answers on the held-back photos (cached: models never change). */
export async function scoreHeldBack(world: World, version: string): Promise<HeldBackScore> {
  const cached = scores.get(`${world.root}:${version}`);
  if (cached) return cached;
  const scored = await scoreModel(world.lake.models, version, world.heldBack.images, world.universe, world.config);
  const recall: Record<string, number> = {};
  for (const c of scored.metrics.perClass) if (c.support > 0) recall[c.label] = c.recall;
  const score = { accuracy: scored.metrics.top1, top1: scored.top1, recall };
  scores.set(`${world.root}:${version}`, score);
  return score;
}

/**
 * The gate's own rule applied to the held-back photos instead of the evaluation set: what
 * the loop would have decided had it been able to see photos it never sees.
 */
export async function heldBackDecision(world: World, challenger: string, champion: string | null): Promise<GateResult> {
  const ch = await scoreHeldBack(world, challenger);
  const cp = champion ? await scoreHeldBack(world, champion) : null;
  const championLabels = champion ? (await readModelMeta(world.lake.models, champion)).labels : [];
  const challengerLabels = (await readModelMeta(world.lake.models, challenger)).labels;
  return decide(
    {
      labels: world.universe,
      truth: Int32Array.from(world.heldBack.images.map((i) => i.label)),
      challenger: ch.top1,
      champion: cp?.top1 ?? null,
      championLabels: new Set(championLabels),
      challengerLabels: new Set(challengerLabels),
    },
    { ...world.config.gate, minTestExamples: 1, requireShadow: false },
    null,
  );
}

/** Paired comparison of two models on the held-back photos (optionally a subset of breeds). */
export function compareHeldBack(
  world: World,
  a: HeldBackScore,
  b: HeldBackScore,
  alpha: number,
  breeds?: ReadonlySet<string>,
): PairedComparison {
  let only = 0;
  let other = 0;
  let n = 0;
  world.heldBack.images.forEach((img, i) => {
    if (breeds && !breeds.has(world.heldBack.breeds[i])) return;
    n++;
    const ra = a.top1[i] === img.label;
    const rb = b.top1[i] === img.label;
    if (ra && !rb) only++;
    else if (rb && !ra) other++;
  });
  return pairedComparison(only, other, n, alpha);
}

/** Accuracy of a model on the held-back photos of some breeds. */
export function accuracyOn(world: World, s: HeldBackScore, breeds: ReadonlySet<string>): number {
  let right = 0;
  let n = 0;
  world.heldBack.images.forEach((img, i) => {
    if (!breeds.has(world.heldBack.breeds[i])) return;
    n++;
    if (s.top1[i] === img.label) right++;
  });
  return n ? right / n : 0;
}

export const pct = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(1)}%`);
export const pts = (x: number | null | undefined): string =>
  x === null || x === undefined ? '—' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}`;
export const interval = (c: PairedComparison | null | undefined): string =>
  c ? `${pts(c.effect)} [${pts(c.low)}, ${pts(c.high)}] p=${c.pBetter < 0.001 ? '<0.001' : c.pBetter.toFixed(3)}` : '—';

/** A plain-text table (no colours: it goes to logs and RESULTS.md as well). */
export function table(head: string[], rows: Array<Array<string | number>>): string {
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const r of rows) t.push(r.map(String));
  return t.toString();
}

/** Appends a dated section to bench/RESULTS.md (one results file for every benchmark and drill). */
async function appendResults(title: string, body: string): Promise<string> {
  const file = path.join(REPO, 'bench', 'RESULTS.md');
  const existing = await fs
    .readFile(file, 'utf8')
    .catch(() => '# Results\n\nBenchmark and drill runs, appended by the scripts that made them (newest last). Never rewritten.\n');
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await fs.writeFile(file, `${existing.trimEnd()}\n\n## ${title} (${stamp}, ${os.cpus().length} cores)\n\n${body.trim()}\n`);
  return file;
}

/** The machine's load, for the record next to timings (others share it). */
const loadAverage = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');

export interface CommonDrillOptions {
  firstBatch: number;
  batch: number;
  heldBackShare: number;
  seed: string;
}

/** The flags every drill takes (--first-batch, --batch, --held-back, --seed), with the drill's defaults, plus its own. */
export function drillArgs<E extends Record<string, { type: 'string'; default: string }>>(
  defaults: { firstBatch: number; batch: number; seed: string },
  extra: E,
): { common: CommonDrillOptions; values: { [K in keyof E]: string } } {
  const { values } = parseArgs({
    options: {
      'first-batch': { type: 'string', default: String(defaults.firstBatch) },
      batch: { type: 'string', default: String(defaults.batch) },
      'held-back': { type: 'string', default: '0.25' },
      seed: { type: 'string', default: defaults.seed },
      ...extra,
    },
  });
  const v = values as Record<string, string>;
  const common = { firstBatch: Number(v['first-batch']), batch: Number(v.batch), heldBackShare: Number(v['held-back']), seed: v.seed };
  return { common, values: v as { [K in keyof E]: string } };
}

/**
 * A drill's command line: runs it, prints its table with the wall time and the machine's
 * load, and appends both to bench/RESULTS.md. Exit 1 (with the stack) when the drill fails.
 */
export function runDrillMain<R>(name: string, drill: (say: (line: string) => void) => Promise<R>, format: (r: R) => string): void {
  const started = Date.now();
  const load = loadAverage();
  drill((line) => console.log(line)).then(
    async (r) => {
      const { model } = loadConfig();
      const text = `${format(r)}\nbackbone ${model.backbone}; wall ${((Date.now() - started) / 60000).toFixed(1)} min; load average before ${load}`;
      console.log(text);
      console.log(`appended to ${await appendResults(name, text)}`);
    },
    (err: Error) => {
      console.error(err.stack ?? err.message);
      process.exit(1);
    },
  );
}
