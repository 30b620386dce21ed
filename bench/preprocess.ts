/**
 * Preprocessing benchmark (`npm run bench:preprocess`): images per second from labelled raw
 * images to a complete TFRecord dataset version, on all of ../shared/datasets/dogs.
 *
 * Every variant runs the real pipeline (`runPreprocessing`: read, hash, validate, decode,
 * resize, JPEG-encode, tf.train.Example, shards, manifest) on a local data root; only the
 * seeding of the raw bucket is outside the timing. Variants compare in-process sharp (libuv
 * pool) with a worker_threads pool and with the local-tasks engine (plan → one child process
 * per core running `cli.ts --stage transform` → commit; its transform time includes process
 * start-up), and a Python/Pillow baseline does the same
 * decode-resize-encode (without TFRecord writing) on as many processes.
 *
 * Numbers are noisy on a shared machine, so the variants run in BENCH_ROUNDS (3) alternating
 * rounds, and the table gives each variant's median round, every round, and the CPU it used
 * per image (user + system, all threads and child processes, from /proc), which the
 * neighbours' load moves far less than the wall clock.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import sharp from 'sharp';
import { cpuMs, median } from './proc-stats';
import { seedRawBucket, SHARED_DOGS } from './seed-raw-bucket';
import { imagesSchema, preprocessingSchema } from '../workloads/core/config/schema';
import { LocalObjectStore } from '../workloads/core/storage/local-object-store';
import { LocalTaskEngine } from '../workloads/preprocessing/engines/local-task-engine';
import { runWithEngine } from '../workloads/preprocessing/engines/run-with-engine';
import { runPreprocessing } from '../workloads/preprocessing/run';
import { createTransformer } from '../workloads/preprocessing/transform-pool';
import { tuneForBatchThroughput } from '../workloads/preprocessing/tuning';

tuneForBatchThroughput();

const TARGET = 400;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Variant {
  name: string;
  workers: number;
  concurrency: number;
  /** Run the transform as this many child-process tasks (the local-tasks engine) instead of in-process. */
  tasks?: number;
}

async function main(): Promise<void> {
  const cores = availableParallelism();
  const root = mkdtempSync(join(tmpdir(), 'cv-bench-preprocess-'));
  const raw = new LocalObjectStore(join(root, 'raw'));
  const images = (await seedRawBucket(raw)).length;
  const settings = preprocessingSchema.parse({});
  const variants: Variant[] = [
    { name: 'in-process sharp, 8 in flight', workers: 0, concurrency: 8 },
    { name: 'in-process sharp, 16 in flight', workers: 0, concurrency: 16 },
    { name: `worker_threads pool (${cores}), 16 in flight`, workers: cores, concurrency: 16 },
    { name: `local-tasks engine: ${cores} child-process tasks, 16 in flight each`, workers: 0, concurrency: 16, tasks: cores },
  ];
  const table = new Table({
    head: ['variant', 'images', 'transform img/s', 'end-to-end img/s (median)', 'rounds', 'CPU ms/img', `≥ ${TARGET}/s`],
    style: process.stdout.isTTY ? {} : { head: [], border: [] },
  });
  const rounds = variants.map(() => [] as Round[]);
  const load = [loadavg()[0]];
  // Pillow before and after the sharp variants: on a shared machine the spread shows the noise.
  const pillow = (when: string): void => {
    const py = spawnSync('/usr/bin/python3', [join(__dirname, 'preprocess-pillow.py'), SHARED_DOGS, String(cores)], { encoding: 'utf8' });
    const name = `Python Pillow, ${cores} processes, decode-resize-encode only (${when})`;
    if (py.status === 0) {
      const r = JSON.parse(py.stdout) as { images: number; seconds: number; pillow: string };
      table.push([name.replace('Pillow', `Pillow ${r.pillow}`), r.images, (r.images / r.seconds).toFixed(0), '-', '-', '-', '-']);
    } else {
      table.push([name, '-', `not run: ${(py.stderr || py.error?.message || '').trim().split('\n').pop()}`, '-', '-', '-', '-']);
    }
  };
  try {
    pillow('first');
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, v] of variants.entries()) {
        rounds[i].push(await runVariant(root, raw, settings, v, `datasets-${round}-${i}`));
        process.stderr.write(`round ${round + 1}/${ROUNDS}: ${v.name}: ${rounds[i].at(-1)!.e2e.toFixed(0)} img/s end to end\n`);
      }
    }
    pillow('last');
    load.push(loadavg()[0]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const medians = variants.map((v, i) => {
    const rs = rounds[i];
    const mid = [...rs].sort((a, b) => a.e2e - b.e2e)[Math.floor((rs.length - 1) / 2)];
    table.splice(table.length - 1, 0, [
      v.name,
      mid.images,
      mid.transform.toFixed(0),
      mid.e2e.toFixed(0),
      rs.map((r) => r.e2e.toFixed(0)).join(' / '),
      median(rs.map((r) => r.cpuMsPerImage)).toFixed(2),
      mid.e2e >= TARGET ? 'yes' : 'no',
    ]);
    return { name: v.name, e2e: mid.e2e };
  });
  console.log(
    `Preprocessing: ${images} photos from ${SHARED_DOGS} → TFRecord dataset version, ${cores} cores, sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}, ${ROUNDS} alternating rounds`,
  );
  console.log(
    `1-minute load average before / after: ${load.map((l) => l.toFixed(1)).join(' / ')} on ${cores} cores (other processes share the CPU)`,
  );
  console.log(table.toString());
  const best = medians.reduce((a, b) => (b.e2e > a.e2e ? b : a));
  console.log(`fastest: ${best.name} at ${best.e2e.toFixed(0)} images/s end to end, median of ${ROUNDS} rounds (target ≥ ${TARGET}/s)`);
}

interface Round {
  images: number;
  /** Images per second through the transform stage, and through the whole run. */
  transform: number;
  e2e: number;
  cpuMsPerImage: number;
}

/** One whole preprocessing run of a variant into a fresh datasets bucket. */
async function runVariant(
  root: string,
  raw: LocalObjectStore,
  settings: ReturnType<typeof preprocessingSchema.parse>,
  v: Variant,
  bucket: string,
): Promise<Round> {
  const datasets = new LocalObjectStore(join(root, bucket));
  const transformer = createTransformer(v.workers);
  const cpuBefore = cpuMs('self', { children: true });
  try {
    const options = { runId: null, settings, limits: imagesSchema.parse({}), concurrency: v.concurrency, version: 'bench' };
    const s = v.tasks
      ? (await runWithEngine({ raw, datasets }, options, localTasks(root, bucket, v.concurrency), v.tasks)).summary
      : await runPreprocessing({ raw, datasets, transformer }, options);
    return {
      images: s.newExamples,
      transform: s.imagesPerSecond,
      e2e: s.newExamples / s.totalSeconds,
      cpuMsPerImage: (cpuMs('self', { children: true }) - cpuBefore) / s.newExamples,
    };
  } finally {
    await transformer.close();
  }
}

/** The local-tasks engine over the benchmark's data root: each task is `cli.ts --stage transform` in its own process. */
function localTasks(root: string, datasetsBucket: string, concurrency: number): LocalTaskEngine {
  return new LocalTaskEngine({
    env: {
      ...process.env,
      CV_DATA_ROOT: root,
      CV_STORAGE_BUCKETS_RAW: 'raw',
      CV_STORAGE_BUCKETS_DATASETS: datasetsBucket,
      CV_PREPROCESSING_CONCURRENCY: String(concurrency),
      CV_LOG_LEVEL: 'warn',
    },
    forwardOutput: false,
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
