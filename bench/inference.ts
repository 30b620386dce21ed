/**
 * Serving benchmark (`npm run bench:inference`; not a test).
 *
 * Runs the inference service (workloads/inference/main.ts, local buckets, DuckDB) serving a
 * real model version on the configured backbone, and a PyTorch baseline serving the SAME
 * model (bench/inference-torch.py: torchvision MobileNetV2 with the weights converted from
 * the same tfjs files, the same Dense head) behind Python's ThreadingHTTPServer. On the
 * default backbone (mobilenet_v2_100) the model is model zero, what a new stack serves (a
 * Dense head on the 1280-d features), and both servers also compute the ImageNet head's
 * dog-class mass per image (the service's "not a dog" answer); on mobilenet_v2_035
 * (BENCH_BACKBONE=mobilenet_v2_035) a Dense head fitted on a few photos. Each gets the same load: 8 concurrent clients POSTing real photos
 * from ../shared/datasets/dogs as raw JPEG bodies to /classify for a fixed duration, after
 * a warm-up. Prints one table: throughput, p50/p99 latency, peak resident memory, and the
 * top-1 agreement of the two servers on the same photos (checks the weight conversion).
 *
 * Note the service does more per request than the baseline: it stores every upload
 * (image + upload record) and writes its warehouse rows ahead to the raw bucket before
 * answering, as in production. A second instance of the service with the write-ahead off
 * runs in the same alternating rounds, so the table shows what that durability costs.
 *
 * Env: BENCH_QUICK=1 (1 round of 3 s on 40 photos: a smoke run), BENCH_BACKBONE (the
 * config default), BENCH_ROUNDS (3: alternating rounds per server, the median reported), BENCH_SECONDS (20), BENCH_WARMUP_SECONDS (3), BENCH_CLIENTS (8), BENCH_SINGLE_SECONDS (5),
 * BENCH_TSX=1 (run the service through tsx instead of compiled JavaScript), BENCH_TORCH_THREADS
 * (torch intra-op threads; default one per core: faster than Debian torch's default of 1 here),
 * BENCH_PYTHON (/usr/bin/python3), BENCH_NODE_ARGS (extra node flags for the service, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`); MALLOC_ARENA_MAX (default 2, as the container image sets it) and CV_INFERENCE_* are passed to the service.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { openDataLake } from '../workloads/core/storage/data-lake';
import { modelKeys } from '../workloads/core/layout';
import { freePort } from '../workloads/inference/test/fixtures/process';
import { BACKBONE_URL, buildTestModel, DOGS_DIR, REPO_ROOT } from '../workloads/inference/test/fixtures/test-model';
import { buildWorkloads, builtFile } from '../scripts/build';
import { ENTRY_POINTS } from '../workloads/core/entry-points';
import { loadConfig } from '../workloads/core/config/load';
import { backbonePart, configuredSpec } from '../workloads/core/model/catalog';
import { ensureModelZero } from '../workloads/core/model/model-zero';
import { cpuMs, median, quantile, rssMb } from './proc-stats';
import { appendResults, markdownTable, QUICK } from './results';

const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 3 : 20));
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? (QUICK ? 1 : 3));
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 8);
const SINGLE = Number(process.env.BENCH_SINGLE_SECONDS ?? (QUICK ? 2 : 5));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
const MODEL = loadConfig({
  env: { CV_MODEL_BACKBONE: process.env.BENCH_BACKBONE, CV_MODEL_INPUT_SIZE: process.env.CV_MODEL_INPUT_SIZE },
}).model;
/** Targets (issue 16 for the default backbone). */
const TARGET = { ratio: 2, p50: 40, rssMb: 600 };
const ARENAS = process.env.MALLOC_ARENA_MAX ?? '2';
/** Run the service through tsx (as `npm run serve`) instead of compiled JavaScript. */
const VIA_TSX = process.env.BENCH_TSX === '1';
const TORCH_THREADS = Number(process.env.BENCH_TORCH_THREADS ?? os.availableParallelism());
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';

interface Result {
  name: string;
  requests: number;
  errors: number;
  seconds: number;
  p50: number;
  p99: number;
  peakRssMb: number;
  /** p50 of one upload at a time (no queueing behind other clients). */
  p50Single: number;
  /** Server CPU time (all threads) per answered request under the concurrent load. */
  cpuMsPerImage: number;
}

const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

async function photos(n: number): Promise<Buffer[]> {
  const breeds = (await fs.readdir(DOGS_DIR)).sort();
  const files: string[] = [];
  for (let i = 0; files.length < n; i++) {
    for (const b of breeds) {
      const list = (await fs.readdir(path.join(DOGS_DIR, b))).filter((f) => f.endsWith('.jpg')).sort();
      if (list[i]) files.push(path.join(DOGS_DIR, b, list[i]));
    }
  }
  return files.slice(0, n).map((f) => readFileSync(f));
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 90_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > until) throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const post = (url: string, body: Buffer): Promise<Response> =>
  fetch(`${url}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: body as unknown as BodyInit });

async function load(name: string, url: string, pid: number, images: Buffer[]): Promise<Result> {
  let peak = rssMb(pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 250);
  const run = async (seconds: number, record: boolean, clients = CLIENTS) => {
    const latencies: number[] = [];
    let errors = 0;
    let next = 0;
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() < until) {
          const img = images[next++ % images.length];
          const t0 = performance.now();
          try {
            const res = await post(url, img);
            await res.arrayBuffer();
            if (res.status !== 200) errors++;
            else latencies.push(performance.now() - t0);
          } catch {
            errors++;
          }
        }
      }),
    );
    return record ? { latencies, errors } : undefined;
  };
  log(`${name}: warm-up ${WARMUP} s`);
  await run(WARMUP, false);
  log(`${name}: ${CLIENTS} clients for ${SECONDS} s`);
  const started = performance.now();
  const cpuBefore = cpuMs(pid);
  const { latencies, errors } = (await run(SECONDS, true))!;
  const cpuUsed = cpuMs(pid) - cpuBefore;
  const seconds = (performance.now() - started) / 1000;
  log(`${name}: 1 client for ${SINGLE} s`);
  const single = (await run(SINGLE, true, 1))!;
  clearInterval(sampler);
  return {
    name,
    requests: latencies.length,
    errors: errors + single.errors,
    seconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    peakRssMb: peak,
    p50Single: quantile(single.latencies, 0.5),
    cpuMsPerImage: cpuUsed / latencies.length,
  };
}

/** The round whose throughput is the median (an odd number of rounds gives a real round). */
function medianRound(rounds: Result[], tput: (r: Result) => number): Result {
  const sorted = [...rounds].sort((a, b) => tput(a) - tput(b));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

async function top1(url: string, images: Buffer[]): Promise<string[]> {
  const out: string[] = [];
  for (const img of images) out.push(((await (await post(url, img)).json()) as { prediction: { label: string } }).prediction.label);
  return out;
}

/** Builds the workloads as the image's build stage does (`npm run build`) into a temp dist/. Returns the service's main.js. */
async function compile(root: string): Promise<string> {
  log('building the workloads (npm run build)');
  const outDir = path.join(REPO_ROOT, 'dist', `bench-inference-${path.basename(root)}`);
  await buildWorkloads(outDir);
  compiledDirs.push(outDir);
  return builtFile(outDir, ENTRY_POINTS.inferenceService);
}
const compiledDirs: string[] = [];

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

async function main(): Promise<void> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-bench-inference-'));
  const children: ChildProcess[] = [];
  try {
    const lake = openDataLake({
      dataRoot: root,
      storage: { backend: 'local', buckets: { raw: 'raw', datasets: 'datasets', models: 'models', pipeline: 'pipeline' } },
    });
    const breeds = (await fs.readdir(DOGS_DIR)).sort();
    const spec = configuredSpec(MODEL);
    let model: { version: string; labels: string[] };
    if (backbonePart(spec, 'imagenetHead')) {
      log(`model zero on ${spec.name} at ${spec.inputSize} px (what a new stack serves)`);
      const zero = await ensureModelZero({ store: lake.models, model: MODEL });
      model = { version: zero.version!, labels: breeds };
    } else {
      log(`building a model version (20 breeds × 4 photos, Dense head on ${spec.name} features)`);
      model = await buildTestModel({ store: lake.models, labels: breeds, perLabel: 4, epochs: 20 });
    }
    const images = await photos(QUICK ? 40 : 200);

    // --- the inference service, as deployed; and beside it the same service without the
    // warehouse write-ahead (what durability against kill -9 costs each upload).
    const entry = VIA_TSX ? ['--require', 'tsx/cjs', path.join(REPO_ROOT, 'workloads/inference/main.ts')] : [await compile(root)];
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const startService = async (
      dataRoot: string,
      extraEnv: Record<string, string>,
    ): Promise<{ child: ChildProcess; url: string; ready: { backend: string; workers: number } }> => {
      const port = await freePort();
      const child = spawn(process.execPath, [...nodeArgs, ...entry], {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          CV_DATA_ROOT: dataRoot,
          CV_INFERENCE_PORT: String(port),
          CV_DOG_API_DATASET_DIR: DOGS_DIR,
          CV_MODEL_BACKBONE: MODEL.backbone,
          CV_MODEL_INPUT_SIZE: String(MODEL.inputSize),
          // glibc malloc arenas (one per thread by default) inflate RSS; the container image
          // (workloads/Dockerfile) caps them at 2, so the service is measured as it is deployed.
          MALLOC_ARENA_MAX: ARENAS,
          // Every benchmark client is 127.0.0.1: the per-client limits of the public routes would refuse them.
          CV_INFERENCE_RATE_LIMIT_PER_MINUTE: '0',
          CV_INFERENCE_RATE_LIMIT_UPLOADS_PER_DAY: '0',
          // Service tuning under test (CV_INFERENCE_WORKERS, CV_INFERENCE_MAX_BATCH, ...).
          ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('CV_INFERENCE_') && k !== 'CV_INFERENCE_PORT')),
          ...extraEnv,
        },
      });
      children.push(child);
      // The backend and worker count are internals: the service logs them (a `tfjs_backend` line).
      let ready: { backend: string; workers: number } | undefined;
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.includes('"tfjs_backend"')) ready = JSON.parse(line) as { backend: string; workers: number };
      });
      const url = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200 && ready !== undefined, 'the inference service');
      return { child, url, ready: ready! };
    };
    const service = await startService(root, {});
    const svc = service.child;
    const svcUrl = service.url;
    const arenas = `, MALLOC_ARENA_MAX=${ARENAS}`;
    const oursName = `tfjs ${service.ready.backend} ×${service.ready.workers} workers (fastify, ${VIA_TSX ? 'tsx' : 'compiled JS'}${arenas})`;
    // Its own data root (a local warehouse file has one writer), serving the same model files.
    const noWalRoot = path.join(root, 'write-ahead-off');
    await fs.mkdir(noWalRoot);
    await fs.symlink(path.join(root, 'models'), path.join(noWalRoot, 'models'));
    const noWal = await startService(noWalRoot, { CV_INFERENCE_WAREHOUSE_WRITE_AHEAD: 'false' });
    const noWalName = 'the same, warehouse write-ahead off';

    // --- the PyTorch baseline, started next to it (an idle server costs no CPU)
    const torch = spawn(
      PYTHON,
      [
        path.join(__dirname, 'inference-torch.py'),
        '--backbone',
        spec.name === 'mobilenet_v2_035' ? BACKBONE_URL : spec.url,
        '--arch',
        spec.name === 'mobilenet_v2_035' ? 'v2_035' : 'v2_100',
        '--size',
        String(spec.inputSize),
        '--version-dir',
        path.join(root, 'models', modelKeys.prefix(model.version)),
        '--threads',
        String(TORCH_THREADS),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(torch);
    const banner = await new Promise<string>((resolve, reject) => {
      let out = '';
      torch.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const line = /READY .*\n/.exec(out);
        if (line) resolve(line[0].trim());
      });
      torch.once('exit', (code) => reject(new Error(`the PyTorch server exited with ${code} (is python3-torch installed for ${PYTHON}?)`)));
    });
    const torchUrl = `http://127.0.0.1:${banner.split(' ')[1]}`;
    const [, , , version, , threads] = banner.split(' ');
    const theirsName = `PyTorch ${version} (${threads} thread${threads === '1' ? '' : 's'}, ThreadingHTTPServer)`;

    // Rounds alternate between the two servers, so a change in the machine's other load
    // during the run hits both; the table reports each server's median round.
    const oursRounds: Result[] = [];
    const noWalRounds: Result[] = [];
    const theirsRounds: Result[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      log(`round ${r}/${ROUNDS}`);
      oursRounds.push(await load(oursName, svcUrl, svc.pid!, images));
      noWalRounds.push(await load(noWalName, noWal.url, noWal.child.pid!, images));
      theirsRounds.push(await load(theirsName, torchUrl, torch.pid!, images));
    }
    const agreementSample = images.slice(0, 60);
    const oursTop1 = await top1(svcUrl, agreementSample);
    const torchTop1 = await top1(torchUrl, agreementSample);
    await stop(svc);
    await stop(noWal.child);
    await stop(torch);

    const agree = oursTop1.filter((l, i) => l === torchTop1[i]).length / agreementSample.length;
    const tput = (r: Result) => r.requests / r.seconds;
    const ratios = oursRounds.map((o, i) => tput(o) / tput(theirsRounds[i]));
    const ours = medianRound(oursRounds, tput);
    const theirs = medianRound(theirsRounds, tput);
    const noWalMedian = medianRound(noWalRounds, tput);
    const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
    const header = [
      'server (median round)',
      'img/s',
      'rounds img/s',
      'CPU ms/img',
      'p50 ms',
      'p99 ms',
      'p50 1 client',
      'peak RSS MB',
      'errors',
    ];
    const table = [
      [ours, oursRounds],
      [noWalMedian, noWalRounds],
      [theirs, theirsRounds],
    ].map(([r, all]) => {
      const m = r as Result;
      const rounds = all as Result[];
      return [
        m.name,
        fmt(tput(m)),
        rounds.map((x) => fmt(tput(x))).join(' / '),
        fmt(m.cpuMsPerImage),
        fmt(m.p50),
        fmt(m.p99),
        fmt(m.p50Single),
        fmt(Math.max(...rounds.map((x) => x.peakRssMb)), 0),
        String(rounds.reduce((n, x) => n + x.errors, 0)),
      ];
    });
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
    const title = `Serving ${spec.name} at ${spec.inputSize} px + Dense head (${model.labels.length} breeds${backbonePart(spec, 'imagenetHead') ? ' and the ImageNet dog-class mass' : ''})`;
    console.log(
      `\n${title}, ${CLIENTS} concurrent clients, ${ROUNDS} alternating rounds of ${SECONDS} s, ` +
        `${images.length} real 224×224 JPEGs, ${os.availableParallelism()} cores (shared machine: numbers are noisy; load average ${os
          .loadavg()
          .map((x) => x.toFixed(1))
          .join(' ')})`,
    );
    console.log(line(header));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const t of table) console.log(line(t));
    const peak = Math.max(...oursRounds.map((x) => x.peakRssMb));
    const summary =
      `throughput ratio per round ${ratios.map((x) => fmt(x, 2)).join(' / ')}, median ${fmt(median(ratios), 2)}× PyTorch (target ≥ ${TARGET.ratio}×); ` +
      `p50 of one upload ${fmt(ours.p50Single)} ms (target ≤ ${TARGET.p50}); peak RSS ${fmt(peak, 0)} MB (target ≤ ${TARGET.rssMb}); ` +
      `top-1 agreement with PyTorch on ${agreementSample.length} photos: ${fmt(agree * 100, 0)}%; ` +
      `the warehouse write-ahead costs ${fmt(ours.p50Single - noWalMedian.p50Single)} ms of p50 for one upload ` +
      `and ${fmt(ours.cpuMsPerImage - noWalMedian.cpuMsPerImage)} CPU ms per image`;
    console.log(`\n${summary}`);
    appendResults(
      `bench:inference (${spec.name} at ${spec.inputSize} px${QUICK ? ', QUICK' : ''})`,
      `${title}, ${CLIENTS} concurrent clients, ${ROUNDS} alternating rounds of ${SECONDS} s, ${images.length} real JPEGs.\n\n` +
        `${markdownTable(header, table)}\n\n${summary}.`,
    );
  } finally {
    for (const c of children) await stop(c);
    await fs.rm(root, { recursive: true, force: true });
    for (const d of compiledDirs) await fs.rm(d, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
