import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BackboneSpec, Trunk } from '../../core/model/backbones';
import { availableCores, type BackendName, planThreads, selectBackend, type ThreadPlan } from '../../core/tf/backend';
import type { Augmentation } from './augment';
import { extractBatch, loadExtractionTrunk } from './extract-batch';
import type { ExtractRequest, ExtractResponse, ExtractWorkerData, WorkerReady } from './extract-worker';

/**
 * Frozen feature extraction (trunk forward passes, the dominant cost of training on a frozen
 * or partly frozen backbone) on every core, by the threading model of core/tf/backend.ts
 * ({@link planThreads}): with native TensorFlow (tfjs-node, in the production image) in this
 * thread, whose intra-op pool uses every core (tfjs-node loads in one thread per process, so
 * workers could only fall back to WASM); with WASM or CPU, in one worker thread per core (or
 * as configured), batches dealt to whichever worker is free.
 */
export interface ExtractItem {
  jpeg: Buffer;
  aug: Augmentation;
}

interface Pending {
  resolve: (d: Float32Array) => void;
  reject: (e: Error) => void;
}

/** Starts a worker for a .ts entry from plain Node (jest, or a build without tsx loaded) by registering tsx first. */
function startWorker(entry: string, data: unknown): Worker {
  // The environment this code sees (the same object as the process's outside test sandboxes,
  // which give each test file its own): the worker reads the storage endpoint from it.
  const env = process.env;
  if (entry.endsWith('.ts')) {
    const tsx = require.resolve('tsx/cjs');
    return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(entry)});`, { eval: true, workerData: data, env });
  }
  return new Worker(entry, { workerData: data, env });
}

export interface ExtractorOptions {
  /** Worker threads for WASM/CPU; 0 or absent: one per core. Ignored with native TensorFlow. */
  workers?: number;
  batchSize?: number;
  /** This thread's backend (default: {@link selectBackend}, chosen once per thread). Tests inject their own. */
  selectBackend?: () => Promise<BackendName>;
  cores?: number;
}

export class FeatureExtractor {
  private readonly workers: Worker[] = [];
  /** The trunk in this thread (native TensorFlow), or undefined (worker threads). */
  private local: Trunk | undefined;
  private localQueue: Promise<unknown> = Promise.resolve();
  /** How many threads extract, on which backend, and why. */
  plan!: ThreadPlan;
  private readonly idle: Worker[] = [];
  private readonly queue: Array<{ req: ExtractRequest; p: Pending }> = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;
  readonly featureSize: number;
  backend = 'unknown';

  private constructor(
    readonly spec: BackboneSpec,
    readonly batchSize: number,
  ) {
    this.featureSize = spec.outputShape.reduce((a, b) => a * b, 1);
  }

  static async start(spec: BackboneSpec, options: ExtractorOptions = {}): Promise<FeatureExtractor> {
    const fx = new FeatureExtractor(spec, options.batchSize ?? 16);
    const backend = await (options.selectBackend ?? (() => selectBackend(() => undefined)))();
    fx.plan = planThreads({ backend, configured: options.workers ?? 0, cores: options.cores ?? availableCores() });
    if (backend === 'tensorflow') {
      try {
        fx.local = await loadExtractionTrunk(spec);
      } catch (err) {
        throw new Error(`could not load backbone ${spec.name} from ${spec.url}: ${(err as Error).message}`, { cause: err });
      }
      fx.backend = backend;
      return fx;
    }
    const entry = path.join(__dirname, `extract-worker${path.extname(__filename)}`);
    try {
      await Promise.all(Array.from({ length: fx.plan.threads }, () => fx.spawn(entry, backend)));
    } catch (err) {
      await fx.close();
      throw err;
    }
    return fx;
  }

  /** Worker threads running (0 when extraction runs in this thread). */
  get threads(): number {
    return this.workers.length;
  }

  private spawn(entry: string, backend: BackendName): Promise<void> {
    const w = startWorker(entry, { spec: this.spec, backend } satisfies ExtractWorkerData);
    this.workers.push(w);
    return new Promise((resolve, reject) => {
      w.once('message', (m: WorkerReady) => {
        if (!m.ready)
          return reject(new Error(`feature worker could not load backbone ${this.spec.name} from ${this.spec.url}: ${m.error}`));
        this.backend = m.backend;
        w.on('message', (r: ExtractResponse) => this.onResult(w, r));
        this.idle.push(w);
        resolve();
      });
      w.once('error', (err) => {
        this.fail(new Error(`feature worker crashed: ${err.message}`));
        reject(err);
      });
    });
  }

  private fail(err: Error): void {
    this.failure = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const q of this.queue.splice(0)) q.p.reject(err);
  }

  private onResult(w: Worker, r: ExtractResponse): void {
    const p = this.pending.get(r.id);
    this.pending.delete(r.id);
    if (p) {
      if (r.ok) p.resolve(r.data);
      else p.reject(new Error(`feature extraction failed: ${r.error}`));
    }
    this.idle.push(w);
    this.pump();
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const { req, p } = this.queue.shift()!;
      this.pending.set(req.id, p);
      w.postMessage(req);
    }
  }

  private runBatch(items: ExtractItem[]): Promise<Float32Array> {
    if (this.failure) return Promise.reject(this.failure);
    const local = this.local;
    if (local) {
      // One batch at a time: native TensorFlow already spreads each one over every core.
      const run = this.localQueue.then(() =>
        extractBatch(
          local,
          this.spec,
          items.map((i) => new Uint8Array(i.jpeg)),
          items.map((i) => i.aug),
        ),
      );
      this.localQueue = run.catch(() => undefined);
      return run;
    }
    const req: ExtractRequest = { id: this.nextId++, jpegs: items.map((i) => new Uint8Array(i.jpeg)), augs: items.map((i) => i.aug) };
    return new Promise((resolve, reject) => {
      this.queue.push({ req, p: { resolve, reject } });
      this.pump();
    });
  }

  /**
   * Trunk activations of every item, in order: one row of {@link featureSize} floats each.
   * `onBatch` is called after each finished batch with (done, total) for progress.
   */
  async extract(items: ExtractItem[], onBatch?: (done: number, total: number) => void): Promise<Float32Array> {
    const out = new Float32Array(items.length * this.featureSize);
    let done = 0;
    const jobs: Promise<void>[] = [];
    for (let start = 0; start < items.length; start += this.batchSize) {
      const batch = items.slice(start, start + this.batchSize);
      jobs.push(
        this.runBatch(batch).then((data) => {
          if (data.length !== batch.length * this.featureSize)
            throw new Error(`trunk returned ${data.length} values for ${batch.length} images; expected ${this.featureSize} each`);
          out.set(data, start * this.featureSize);
          done += batch.length;
          onBatch?.(done, items.length);
        }),
      );
    }
    await Promise.all(jobs);
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
    this.local?.dispose();
    this.local = undefined;
  }
}
