import pino from 'pino';
import sharp from 'sharp';
import type { DeepPartial } from '../workloads/core/config/load';
import type { WorkloadConfig } from '../workloads/core/config/schema';
import { listDatasetVersions, readManifest } from '../workloads/core/dataset/read-dataset';
import type { DogImageSource } from '../workloads/inference/context';
import { buildInferenceApp } from '../workloads/inference/app';
import { readIntake } from '../workloads/preprocessing/intake';
import { readPointer } from '../workloads/core/model/registry';
import {
  holdBack,
  ingestTrusted,
  openWorld,
  pct,
  type Photo,
  runCycle,
  scoreHeldBack,
  sharedPhotos,
  shuffled,
  table,
  drillArgs,
  runDrillMain,
} from './harness';

/**
 * drill:poison: a hostile client floods uploads and feedback with wrong labels while the
 * loop runs, through the real inference service (POST /classify, POST /feedback over
 * HTTP). Its strategies:
 *   relabel       a photo "corrected" to another breed;
 *   confirm-wrong "correct: true" on a wrong prediction (and a wrong correction otherwise);
 *   near-copies   one photo, re-uploaded with bytes appended or re-encoded, the same wrong label each time;
 *   known-photo   a near-copy of a photo the loop already trusts, with a wrong label.
 * After every cycle the drill counts, in the dataset version the loop trained and evaluated
 * on, the examples whose label is not the photo's true breed (poisoned) and those that came
 * from users at all, and scores the served model on held-back photos.
 */
export interface PoisonOptions {
  breeds?: string[];
  cycles: number;
  firstBatch: number;
  batch: number;
  /** Hostile uploads + feedbacks per cycle. */
  attacks: number;
  heldBackShare: number;
  seed: string;
  overrides?: DeepPartial<WorkloadConfig>;
}

export interface PoisonRow {
  cycle: number;
  attacks: number;
  accepted: number;
  refused: string;
  pending: number;
  examples: number | null;
  fromUsers: number | null;
  poisoned: number | null;
  decision: string;
  served: number | null;
  seconds: number;
}

export interface PoisonResult {
  rows: PoisonRow[];
  attacks: number;
  labelsWritten: number;
  /** Over every dataset version: examples whose label is not the photo's true breed. */
  poisonedInTraining: number;
  poisonedInEvaluation: number;
  fromUsers: number;
  failedCycles: number;
  servedFirst: number | null;
  servedLast: number | null;
}

/** The hostile client: one address, so one voter, at whatever rate the service allows. */
async function attack(url: string, photos: readonly Photo[], known: readonly Photo[], breeds: readonly string[], n: number, seed: number) {
  let accepted = 0;
  const refused: Record<string, number> = {};
  const wrongFor = (b: string, i: number) => breeds.filter((x) => x !== b)[i % (breeds.length - 1)];
  const refuse = (why: string) => (refused[why] = (refused[why] ?? 0) + 1);
  const send = async (bytes: Buffer, truth: string, strategy: number, i: number) => {
    const c = await fetch(`${url}/classify`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: bytes as unknown as BodyInit,
    });
    if (!c.ok) return refuse(`classify ${c.status}`);
    const p = (await c.json()) as { predictionId: string; prediction: { label: string } };
    const body =
      strategy === 1 && p.prediction.label !== truth
        ? { predictionId: p.predictionId, correct: true }
        : {
            predictionId: p.predictionId,
            correct: false,
            label: p.prediction.label === wrongFor(truth, i) ? wrongFor(truth, i + 1) : wrongFor(truth, i),
          };
    const f = await fetch(`${url}/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (f.status === 201) accepted++;
    else refuse(`feedback ${f.status}`);
  };
  for (let i = 0; i < n; i++) {
    const strategy = (i + seed) % 4;
    if (strategy === 3 && known.length > 0) {
      const k = known[(i * 7 + seed) % known.length];
      await send(await sharp(k.bytes).jpeg({ quality: 75 }).toBuffer(), k.breed, strategy, i);
    } else if (strategy === 2) {
      const p = photos[(i * 13 + seed) % photos.length];
      await send(Buffer.concat([p.bytes, Buffer.from(`#${i}`)]), p.breed, strategy, 0);
    } else {
      const p = photos[(i * 5 + seed) % photos.length];
      await send(p.bytes, p.breed, strategy, i);
    }
  }
  return { accepted, refused };
}

export async function poisonDrill(o: PoisonOptions, say: (line: string) => void = () => undefined): Promise<PoisonResult> {
  const photos = sharedPhotos(o.breeds);
  const truth = new Map(photos.map((p) => [p.sha256, p.breed]));
  const { heldBack, pool } = holdBack(photos, o.heldBackShare, o.seed);
  const stream = shuffled(pool, `stream:${o.seed}`);
  // The attacker's own photos: pool photos the loop will not ingest during the run (their bytes, near-copies).
  const ingestedCount = o.firstBatch + (o.cycles - 1) * o.batch;
  const attackerPhotos = stream.slice(ingestedCount);
  if (attackerPhotos.length < 20)
    throw new Error(`not enough photos left for the attacker (${attackerPhotos.length}); use fewer cycles or smaller batches`);
  const world = await openWorld({
    heldBack,
    overrides: { trigger: { minNewLabelled: Math.floor(0.9 * Math.min(o.firstBatch, o.batch)) }, ...o.overrides },
  });
  const breeds = world.universe;
  const noDogApi: DogImageSource = {
    randomImage: async () => {
      throw new Error('the poison drill ingests through the trusted path directly');
    },
    fetchImage: async () => {
      throw new Error('unused');
    },
  };
  const app = await buildInferenceApp({
    config: { ...world.config, inference: { ...world.config.inference, workers: 1, pointerPollMs: 500 } },
    lake: world.lake,
    warehouse: world.warehouse,
    dogApi: noDogApi,
    logger: pino({ level: 'silent' }),
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const rows: PoisonRow[] = [];
  let next = 0;
  let attacks = 0;
  let labelsWritten = 0;
  let failedCycles = 0;
  const ingested: Photo[] = [];
  try {
    for (let cycle = 1; cycle <= o.cycles; cycle++) {
      const size = cycle === 1 ? o.firstBatch : o.batch;
      const batch = stream.slice(next, next + size);
      await ingestTrusted(world, batch);
      ingested.push(...batch);
      next += size;
      // The flood, before the trigger looks: whatever it manages to write is in the raw bucket when the run plans.
      const hostile = await attack(url, attackerPhotos, ingested, breeds, o.attacks, cycle);
      attacks += o.attacks;
      labelsWritten += hostile.accepted;
      let c;
      try {
        c = await runCycle(world, cycle);
      } catch (err) {
        failedCycles++;
        say(`cycle ${cycle}: FAILED ${(err as Error).stack}`);
        continue;
      }
      const intake = await readIntake(world.lake, world.config);
      let poisoned: number | null = null;
      let fromUsers: number | null = null;
      if (c.datasetVersion) {
        const m = await readManifest(world.lake.datasets, c.datasetVersion);
        poisoned = m.sources.filter((s) => truth.get(s.sha256) !== s.label).length;
        fromUsers = m.sources.filter((s) => s.source !== 'dogapi').length;
      }
      const production = (await readPointer(world.lake.models, 'production')).pointer?.version;
      const served = production ? (await scoreHeldBack(world, production)).accuracy : null;
      rows.push({
        cycle,
        attacks: o.attacks,
        accepted: hostile.accepted,
        refused:
          Object.entries(hostile.refused)
            .map(([k, v]) => `${k} ×${v}`)
            .join(', ') || '—',
        pending: intake.pending,
        examples: c.examples,
        fromUsers,
        poisoned,
        decision: c.outcome,
        served,
        seconds: c.seconds,
      });
      say(
        `cycle ${cycle}: ${hostile.accepted}/${o.attacks} hostile labels written, ${intake.pending} pending; version poisoned ${poisoned ?? '—'}; ${c.outcome}; served ${pct(served)}`,
      );
    }
  } finally {
    await app.close();
  }
  // Every version the loop made, not only the last: nothing poisoned may ever have been trained or evaluated on.
  let poisonedInTraining = 0;
  let poisonedInEvaluation = 0;
  let fromUsers = 0;
  for (const v of await listDatasetVersions(world.lake.datasets)) {
    const m = await readManifest(world.lake.datasets, v);
    for (const s of m.sources.filter((x) => x.version === v || x.origin !== 'inherited')) {
      if (s.source !== 'dogapi') fromUsers++;
      if (truth.get(s.sha256) === s.label) continue;
      if (s.split === 'test') poisonedInEvaluation++;
      else poisonedInTraining++;
    }
  }
  await world.close();
  const servedRows = rows.filter((r) => r.served !== null);
  return {
    rows,
    attacks,
    labelsWritten,
    poisonedInTraining,
    poisonedInEvaluation,
    fromUsers,
    failedCycles,
    servedFirst: servedRows[0]?.served ?? null,
    servedLast: servedRows[servedRows.length - 1]?.served ?? null,
  };
}

export function formatPoison(r: PoisonResult): string {
  const body = table(
    [
      'cycle',
      'hostile requests',
      'hostile labels written',
      'refused',
      'users’ photos pending',
      'examples',
      'from users',
      'poisoned',
      'decision',
      'served (held-back)',
      's',
    ],
    r.rows.map((x) => [
      x.cycle,
      x.attacks,
      x.accepted,
      x.refused,
      x.pending,
      x.examples ?? '—',
      x.fromUsers ?? '—',
      x.poisoned ?? '—',
      x.decision,
      pct(x.served),
      x.seconds.toFixed(0),
    ]),
  );
  return [
    body,
    `${r.attacks} hostile uploads with feedback, ${r.labelsWritten} wrong labels written to the raw bucket; poisoned examples ever trained on: ${r.poisonedInTraining}, ` +
      `ever evaluated on: ${r.poisonedInEvaluation}; examples from users at all: ${r.fromUsers}; served accuracy ${pct(r.servedFirst)} → ${pct(r.servedLast)}; cycles failed: ${r.failedCycles}`,
  ].join('\n');
}

if (require.main === module) {
  const { common, values } = drillArgs(
    { firstBatch: 300, batch: 185, seed: 'poison-1' },
    { cycles: { type: 'string', default: '6' }, attacks: { type: 'string', default: '80' } },
  );
  runDrillMain(
    'drill:poison',
    (say) => poisonDrill({ ...common, cycles: Number(values.cycles), attacks: Number(values.attacks) }, say),
    formatPoison,
  );
}
