import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../core/log';
import { availableCores, type BackendName, planThreads, type ThreadPlan } from '../../core/tf/backend';
import type { FromWorker, ModelFiles, ToWorker } from './protocol';

/**
 * A pool of inference worker threads with micro-batching.
 *
 * Every worker holds every loaded model version (a swap loads the new version in all
 * workers before anyone may use it). Requests queue in the main thread; an idle worker
 * takes up to `maxBatch` queued images that ask for the same model versions. While all
 * workers are busy the queue grows, so batches form by themselves under load; when a
 * worker is idle, the first image waits at most `maxBatchDelayMs` for company.
 *
 * A worker that dies is replaced and given every loaded version again; the requests it
 * held fail (the caller answers 500) instead of hanging.
 */

export interface WorkerPoolOptions {
  /** Worker threads for single-threaded backends (WASM, CPU); 0 means one per core. Native TensorFlow always runs in one (core/tf/backend.ts). */
  workers: number;
  maxBatch: number;
  maxBatchDelayMs: number;
  logger: Logger;
}

export interface LoadedModel {
  version: string;
  labels: string[];
  inputSize: number;
}

interface Pending {
  resolve(msg: FromWorker): void;
  reject(err: Error): void;
}

interface Slot {
  index: number;
  worker: Worker;
  ready: Promise<string>;
  /** Running a predict batch. */
  busy: boolean;
  pending: Map<number, Pending>;
  alive: boolean;
}

interface QueuedImage {
  key: string;
  versions: string[];
  pixels: Uint8Array;
  resolve(prediction: PoolPrediction): void;
  reject(err: Error): void;
}

export interface PoolPrediction {
  /** One row of probabilities per requested version, in order. */
  probs: Float32Array[];
  /** The ImageNet head's probability mass on dog classes; null when the backbone has no ImageNet head. */
  dogProbability: number | null;
}

export interface PoolStats {
  batches: number;
  images: number;
  maxBatchSeen: number;
}

/**
 * Where the worker script is and how to start it. From TypeScript sources (tsx, ts-jest)
 * the worker needs tsx's CommonJS hook; compiled to JavaScript it runs as is.
 */
export function workerEntry(): { file: string; execArgv: string[] } {
  const ext = path.extname(__filename);
  const file = path.join(__dirname, `worker${ext}`);
  return ext === '.ts' ? { file, execArgv: ['--require', 'tsx/cjs'] } : { file, execArgv: [] };
}

/** What a worker is started with. */
export interface WorkerData {
  /** The backend to use; absent for the first worker, which probes for the best one. */
  backend?: BackendName;
}

export class WorkerPool {
  size: number;
  private starting: Promise<string> | undefined;
  private readonly slots: Slot[] = [];
  private readonly queue: QueuedImage[] = [];
  private readonly loaded = new Map<string, { files: ModelFiles; model: LoadedModel }>();
  private nextId = 1;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  readonly stats: PoolStats = { batches: 0, images: 0, maxBatchSeen: 0 };
  backend = 'unknown';
  /** How many threads run models and why, once the first worker has loaded its backend. */
  plan: ThreadPlan | undefined;

  constructor(
    private readonly options: WorkerPoolOptions,
    private readonly cores: number = availableCores(),
  ) {
    this.size = options.workers > 0 ? options.workers : cores;
    // One worker first: it finds the best backend this machine has (see ready()).
    this.slots.push(this.spawn(0));
  }

  /**
   * Resolves when every worker has its backend; returns the backend's name. The first
   * worker probes (native, else WASM, else CPU); {@link planThreads} then decides the pool
   * size (native TensorFlow: that one worker; WASM/CPU: `workers`, or one per core), and
   * the other workers are told the backend, so none attempts a native load.
   */
  ready(): Promise<string> {
    this.starting ??= (async () => {
      const backend = (await this.slots[0].ready) as BackendName;
      this.plan = planThreads({ backend, configured: this.options.workers, cores: this.cores });
      this.backend = backend;
      this.size = this.plan.threads;
      this.options.logger.info({ event: 'tfjs_threads', backend, threads: this.size, cores: this.cores }, this.plan.reason);
      for (let i = this.slots.length; i < this.size; i++) this.slots.push(this.spawn(i, backend));
      await Promise.all(this.slots.map((s) => s.ready));
      return this.backend;
    })();
    return this.starting;
  }

  /** Loads (and warms up) a model version in every worker. Resolves when all have it. */
  async load(version: string, files: ModelFiles): Promise<LoadedModel> {
    await this.ready();
    const results = await Promise.all(
      this.slots.map((s) => this.call(s, { type: 'load', id: 0, version, files, warmupBatch: Math.min(this.options.maxBatch, 4) })),
    );
    const first = results[0] as Extract<FromWorker, { type: 'loaded' }>;
    const model: LoadedModel = { version, labels: first.labels, inputSize: first.inputSize };
    this.loaded.set(version, { files, model });
    this.options.logger.info(
      {
        event: 'model_loaded_in_workers',
        model_version: version,
        workers: this.size,
        load_ms: Math.round(first.loadMs),
        warmup_ms: Math.round(first.warmupMs),
        fused_trunk: first.fusedTrunk,
      },
      `model ${version} loaded and warmed up in ${this.size} workers`,
    );
    return model;
  }

  /** Releases a model version in every worker. Call only when no request uses it any more. */
  async unload(version: string): Promise<void> {
    this.loaded.delete(version);
    await Promise.all(
      this.slots.filter((s) => s.alive).map((s) => this.call(s, { type: 'unload', id: 0, version }).catch(() => undefined)),
    );
  }

  /** Probabilities of one image (size×size×3 RGB bytes) for each of `versions`, and how sure the backbone is that it shows a dog. */
  predict(versions: string[], pixels: Uint8Array): Promise<PoolPrediction> {
    if (this.closed) return Promise.reject(new Error('the inference worker pool is shut down'));
    return new Promise((resolve, reject) => {
      this.queue.push({ key: versions.join('\n'), versions, pixels, resolve, reject });
      this.schedule();
    });
  }

  /** Stops all workers after the queued and running batches finish. */
  async close(): Promise<void> {
    this.closed = true;
    await this.starting?.catch(() => undefined);
    while (this.queue.length > 0 || this.slots.some((s) => s.busy && s.alive)) {
      if (!this.slots.some((s) => s.alive)) {
        // Every worker is gone and none will be replaced now: fail what is left, don't wait forever.
        for (const q of this.queue.splice(0)) q.reject(new Error('the inference worker pool shut down with no live worker'));
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    if (this.timer) clearTimeout(this.timer);
    await Promise.all(
      this.slots.map(async (s) => {
        s.alive = false;
        await s.worker.terminate();
      }),
    );
  }

  /** A worker thread; `backend`: the one it must use (the first worker finds it: none given). */
  private spawn(index: number, backend?: BackendName): Slot {
    const { file, execArgv } = workerEntry();
    const worker = new Worker(file, { execArgv, name: `inference-${index}`, workerData: { backend } satisfies WorkerData });
    let readyResolve!: (b: string) => void;
    let readyReject!: (e: Error) => void;
    const slot: Slot = {
      index,
      worker,
      busy: false,
      pending: new Map(),
      alive: true,
      ready: new Promise<string>((res, rej) => {
        readyResolve = res;
        readyReject = rej;
      }),
    };
    slot.ready.catch(() => undefined);
    worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'ready') return readyResolve(msg.backend);
      if (msg.type === 'error' && msg.id === -1) return readyReject(new Error(msg.message));
      const p = slot.pending.get(msg.id);
      if (!p) return;
      slot.pending.delete(msg.id);
      if (msg.type === 'error') p.reject(new Error(msg.message));
      else p.resolve(msg);
    });
    const onDeath = (err: Error): void => {
      if (!slot.alive) return;
      slot.alive = false;
      readyReject(err);
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
      this.options.logger.error({ err, worker: index }, `inference worker ${index} died; starting a replacement`);
      if (!this.closed) void this.replace(index);
    };
    worker.on('error', (err) => onDeath(err));
    worker.on('exit', (code) => onDeath(new Error(`inference worker ${index} exited with code ${code}`)));
    return slot;
  }

  /** A new worker in place of a dead one, given every loaded model before it takes work. */
  private async replace(index: number): Promise<void> {
    const slot = this.spawn(index, this.plan?.backend);
    slot.busy = true; // not available until its models are loaded
    this.slots[index] = slot;
    try {
      await slot.ready;
      for (const [version, { files }] of this.loaded) {
        await this.call(slot, { type: 'load', id: 0, version, files, warmupBatch: 1 });
      }
      slot.busy = false;
      this.schedule();
    } catch (err) {
      this.options.logger.error({ err, worker: index }, `replacement inference worker ${index} failed to start`);
    }
  }

  private call(slot: Slot, msg: ToWorker, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    if (!slot.alive) return Promise.reject(new Error(`inference worker ${slot.index} is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  private schedule(): void {
    if (this.queue.length === 0) return;
    if (this.queue.length >= this.options.maxBatch || this.options.maxBatchDelayMs <= 0) return this.dispatch();
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.dispatch();
    }, this.options.maxBatchDelayMs);
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) break;
      if (slot.busy || !slot.alive) continue;
      this.runBatch(slot, this.takeBatch());
    }
    // Anything left waits for a worker to finish (runBatch re-dispatches).
  }

  /** Up to maxBatch queued images asking for the same model versions, oldest first. */
  private takeBatch(): QueuedImage[] {
    const key = this.queue[0].key;
    const batch: QueuedImage[] = [];
    for (let i = 0; i < this.queue.length && batch.length < this.options.maxBatch;) {
      if (this.queue[i].key === key) batch.push(...this.queue.splice(i, 1));
      else i++;
    }
    return batch;
  }

  private runBatch(slot: Slot, batch: QueuedImage[]): void {
    slot.busy = true;
    const n = batch.length;
    const imageBytes = batch[0].pixels.length;
    const pixels = new Uint8Array(n * imageBytes);
    batch.forEach((b, i) => pixels.set(b.pixels, i * imageBytes));
    this.stats.batches++;
    this.stats.images += n;
    this.stats.maxBatchSeen = Math.max(this.stats.maxBatchSeen, n);
    this.call(slot, { type: 'predict', id: 0, versions: batch[0].versions, n, pixels: pixels.buffer }, [pixels.buffer])
      .then((msg) => {
        const predicted = msg as Extract<FromWorker, { type: 'predicted' }>;
        const probs = predicted.probs.map((b) => new Float32Array(b));
        const dog = predicted.dog ? new Float32Array(predicted.dog) : null;
        batch.forEach((b, i) =>
          b.resolve({
            probs: probs.map((flat) => {
              const k = flat.length / n;
              return flat.slice(i * k, (i + 1) * k);
            }),
            dogProbability: dog ? dog[i] : null,
          }),
        );
      })
      .catch((err: Error) => batch.forEach((b) => b.reject(err)))
      .finally(() => {
        if (slot.alive) slot.busy = false;
        if (this.queue.length > 0) this.dispatch();
      });
  }
}
