import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { type RawElement, type TransformOptions, type TransformResult, transformElement } from './transform';
import type { TransformRequest, TransformResponse } from './transform-worker';

/**
 * Where the per-element transform runs.
 *
 * `InProcessTransformer` (the default) calls sharp on the main thread. sharp does its
 * decode / resize / encode on libuv's thread pool, which is process-wide, so 16 images in
 * flight already keep both cores busy. `WorkerPoolTransformer` runs the same function in N
 * worker threads; it only adds JS threads (protobuf encoding, hashing) — the image work
 * still lands on the same libuv pool — at the cost of copying every image across threads
 * and a sharp/libvips instance per worker. Measured by `bench:preprocess` on this 2-core
 * machine (3 alternating rounds, medians): 16 in flight in-process 462 img/s end to end at
 * 3.77 CPU-ms per image vs. a 2-worker pool 405 img/s at 4.50 CPU-ms — slower, so the
 * simpler in-process path is the default (`preprocessing.workers` = 0).
 */
export interface Transformer {
  transform(element: RawElement, options: TransformOptions): Promise<TransformResult>;
  close(): Promise<void>;
  readonly description: string;
}

export class InProcessTransformer implements Transformer {
  readonly description = 'in-process (sharp on the libuv thread pool)';
  transform(element: RawElement, options: TransformOptions): Promise<TransformResult> {
    return transformElement(element, options);
  }
  async close(): Promise<void> {}
}

/** From TypeScript sources (tsx, ts-jest) a worker needs tsx's CommonJS hook; compiled JavaScript runs as is. */
function workerEntry(): { file: string; execArgv: string[] } {
  const ext = path.extname(__filename);
  const file = path.join(__dirname, `transform-worker${ext}`);
  return ext === '.ts' ? { file, execArgv: ['--require', 'tsx/cjs'] } : { file, execArgv: [] };
}

interface Pending {
  resolve: (r: TransformResult) => void;
  reject: (e: Error) => void;
}

export class WorkerPoolTransformer implements Transformer {
  private readonly workers: Worker[] = [];
  private readonly inFlight: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  readonly description: string;

  constructor(size: number = os.availableParallelism()) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`worker pool size must be a whole number ≥ 1, got ${size}`);
    this.description = `${size} worker threads`;
    const { file, execArgv } = workerEntry();
    for (let i = 0; i < size; i++) {
      const worker = new Worker(file, { execArgv, name: `preprocess-${i}` });
      worker.on('message', (msg: TransformResponse) => this.settle(i, msg));
      worker.on('error', (err) => this.failAll(new Error(`preprocessing worker ${i} crashed: ${err.message}`, { cause: err })));
      this.workers.push(worker);
      this.inFlight.push(0);
    }
  }

  transform(element: RawElement, options: TransformOptions): Promise<TransformResult> {
    // Least-loaded worker: sharp work is asynchronous, so each worker takes several at once.
    let target = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.inFlight[i] < this.inFlight[target]) target = i;
    const id = this.nextId++;
    this.inFlight[target] += 1;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Copy into a fresh ArrayBuffer so it can be transferred instead of cloned.
      const bytes = new Uint8Array(element.bytes);
      const request: TransformRequest = { id, element: { ...element, bytes: Buffer.from(bytes.buffer) }, options };
      this.workers[target].postMessage(request, [bytes.buffer]);
    });
  }

  private settle(worker: number, msg: TransformResponse): void {
    this.inFlight[worker] -= 1;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.result) {
      const r = msg.result;
      p.resolve(r.ok ? { ...r, payload: Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength) } : r);
    } else p.reject(new Error(`preprocessing worker ${worker} failed: ${msg.error}`));
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

export function createTransformer(workers: number): Transformer {
  return workers > 0 ? new WorkerPoolTransformer(workers) : new InProcessTransformer();
}
