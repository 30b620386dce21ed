import type { DeepPartial } from '../workloads/core/config/load';
import type { WorkloadConfig } from '../workloads/core/config/schema';
import { readManifest } from '../workloads/core/dataset/read-dataset';
import { readPointer } from '../workloads/core/model/registry';
import {
  accuracyOn,
  holdBack,
  ingestTrusted,
  openWorld,
  pct,
  pts,
  runCycle,
  scoreHeldBack,
  sharedPhotos,
  shuffled,
  table,
  drillArgs,
  runDrillMain,
} from './harness';

/**
 * drill:new-breed: a breed the loop has never seen arrives as about 20 photos.
 *
 * One shared breed is withheld from the start. The loop runs on the others until it has a
 * champion; then ~20 photos of the withheld breed arrive through the trusted image API
 * (with the usual trickle of other photos), and the loop runs on. After every cycle the
 * served model is scored on held-back photos: the new breed's recall, and the accuracy on
 * the old breeds against the champion from before the arrival.
 */
export interface NewBreedOptions {
  breeds?: string[];
  withheld: string;
  arrival: number;
  firstBatch: number;
  batch: number;
  /** Cycles to run after the arrival. */
  after: number;
  heldBackShare: number;
  seed: string;
  overrides?: DeepPartial<WorkloadConfig>;
}

export interface NewBreedRow {
  cycle: string;
  newInVersion: string;
  decision: string;
  reason: string;
  newRecall: number | null;
  oldAccuracy: number | null;
  oldChange: number | null;
  seconds: number;
}

export interface NewBreedResult {
  rows: NewBreedRow[];
  withheld: string;
  /** Cycles after the arrival until the served model's recall on the new breed reached 70% (null: not within the run). */
  cyclesToLearn: number | null;
  bestRecall: number;
  /** Old breeds' held-back accuracy change of the served model at the end, vs the champion before the arrival (points). */
  oldChange: number | null;
  failedCycles: number;
  heldBackNew: number;
  heldBackOld: number;
}

export async function newBreedDrill(o: NewBreedOptions, say: (line: string) => void = () => undefined): Promise<NewBreedResult> {
  const photos = sharedPhotos(o.breeds);
  if (!photos.some((p) => p.breed === o.withheld))
    throw new Error(`--breed ${o.withheld} is not a breed in ${o.breeds?.join(', ') ?? '../shared/datasets/dogs'}`);
  const { heldBack, pool } = holdBack(photos, o.heldBackShare, o.seed);
  const others = shuffled(
    pool.filter((p) => p.breed !== o.withheld),
    `stream:${o.seed}`,
  );
  const arriving = shuffled(
    pool.filter((p) => p.breed === o.withheld),
    `arrival:${o.seed}`,
  ).slice(0, o.arrival);
  // Model zero names every breed of the table that has an ImageNet class, the withheld one
  // too (all 20 shared breeds are ImageNet classes): left in, the champion would know the
  // "new" breed from the start. Left out, the champion has no column for it, as when a breed
  // is added to a running stack's list.
  const world = await openWorld({
    heldBack,
    unknownToModelZero: [o.withheld],
    overrides: { trigger: { minNewLabelled: Math.floor(0.9 * o.batch) }, ...o.overrides },
  });
  const oldBreeds = new Set(world.universe.filter((b) => b !== o.withheld));
  const newBreed = new Set([o.withheld]);
  const rows: NewBreedRow[] = [];
  let next = 0;
  let failedCycles = 0;
  let baseline: number | null = null;
  let cyclesToLearn: number | null = null;
  let bestRecall = 0;
  let lastOldChange: number | null = null;
  const served = async () => {
    const v = (await readPointer(world.lake.models, 'production')).pointer?.version;
    return v ? scoreHeldBack(world, v) : null;
  };
  try {
    let cycle = 0;
    // Before the arrival: until there is a champion (at most 4 cycles).
    while (cycle < 4) {
      cycle++;
      const size = cycle === 1 ? o.firstBatch : o.batch;
      await ingestTrusted(world, others.slice(next, next + size));
      next += size;
      const c = await runCycle(world, cycle);
      const s = await served();
      rows.push({
        cycle: `${cycle} (before)`,
        newInVersion: '—',
        decision: c.outcome,
        reason: c.reason.slice(0, 90),
        newRecall: null,
        oldAccuracy: s ? accuracyOn(world, s, oldBreeds) : null,
        oldChange: null,
        seconds: c.seconds,
      });
      say(`cycle ${cycle} (before the arrival): ${c.outcome}: ${c.reason}`);
      if (s) {
        baseline = accuracyOn(world, s, oldBreeds);
        if (cycle >= 2) break;
      }
    }
    if (baseline === null) throw new Error('no champion after 4 cycles before the arrival; the drill cannot start');
    for (let k = 1; k <= o.after; k++) {
      cycle++;
      await ingestTrusted(world, [...(k === 1 ? arriving : []), ...others.slice(next, next + o.batch)]);
      next += o.batch;
      let c;
      try {
        c = await runCycle(world, cycle);
      } catch (err) {
        failedCycles++;
        say(`cycle ${cycle}: FAILED ${(err as Error).stack}`);
        continue;
      }
      let inVersion = '—';
      if (c.datasetVersion) {
        const m = await readManifest(world.lake.datasets, c.datasetVersion);
        const of = (split: 'train' | 'validation' | 'test') => m.splits[split].perClass[o.withheld] ?? 0;
        inVersion = `${of('train')} train / ${of('validation')} val / ${of('test')} eval`;
      }
      const s = await served();
      const recall = s?.recall[o.withheld] ?? 0;
      const oldAccuracy = s ? accuracyOn(world, s, oldBreeds) : null;
      lastOldChange = oldAccuracy === null ? null : oldAccuracy - baseline;
      bestRecall = Math.max(bestRecall, recall);
      if (cyclesToLearn === null && recall >= 0.7) cyclesToLearn = k;
      rows.push({
        cycle: `${cycle} (+${k})`,
        newInVersion: inVersion,
        decision: c.outcome,
        reason: c.reason.slice(0, 90),
        newRecall: recall,
        oldAccuracy,
        oldChange: lastOldChange,
        seconds: c.seconds,
      });
      say(
        `cycle ${cycle} (+${k} after the arrival): ${c.outcome} | ${o.withheld} recall ${pct(recall)} | old ${pct(oldAccuracy)} | ${c.reason}`,
      );
    }
  } finally {
    await world.close();
  }
  return {
    rows,
    withheld: o.withheld,
    cyclesToLearn,
    bestRecall,
    oldChange: lastOldChange,
    failedCycles,
    heldBackNew: heldBack.filter((p) => newBreed.has(p.breed)).length,
    heldBackOld: heldBack.filter((p) => oldBreeds.has(p.breed)).length,
  };
}

export function formatNewBreed(r: NewBreedResult): string {
  const body = table(
    [
      'cycle',
      `${r.withheld} in the version`,
      'decision',
      'why',
      `served: ${r.withheld} recall`,
      'served: old breeds',
      'old vs before (pt)',
      's',
    ],
    r.rows.map((x) => [
      x.cycle,
      x.newInVersion,
      x.decision,
      x.reason,
      pct(x.newRecall),
      pct(x.oldAccuracy),
      pts(x.oldChange),
      x.seconds.toFixed(0),
    ]),
  );
  return [
    body,
    `${r.withheld}: recall ≥ 70% after ${r.cyclesToLearn ?? 'more than the run’s'} cycle(s) of the arrival (best ${pct(r.bestRecall)} on ${r.heldBackNew} held-back photos); ` +
      `old breeds at the end: ${pts(r.oldChange)} pt vs the champion before the arrival (${r.heldBackOld} held-back photos); cycles failed: ${r.failedCycles}`,
  ].join('\n');
}

if (require.main === module) {
  const { common, values } = drillArgs(
    { firstBatch: 300, batch: 150, seed: 'new-breed-1' },
    {
      breed: { type: 'string', default: 'pembroke' },
      arrival: { type: 'string', default: '20' },
      after: { type: 'string', default: '3' },
    },
  );
  runDrillMain(
    'drill:new-breed',
    (say) => newBreedDrill({ ...common, withheld: values.breed, arrival: Number(values.arrival), after: Number(values.after) }, say),
    formatNewBreed,
  );
}
