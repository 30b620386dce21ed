import { parentPort, workerData } from 'node:worker_threads';
import type { BackboneSpec, Trunk } from '../../core/model/backbones';
import { Classifier, loadClassifier, TrunkCache, trunkKey } from '../../core/model/classifier';
import { selectBackend } from '../../core/tf/backend';
import { fuseTrunkChecked } from '../../core/model/fused-trunk';
import { MemoryObjectStore } from './memory-store';
import type { FromWorker, ToWorker } from './protocol';
import type { WorkerData } from './worker-pool';

/**
 * One inference worker thread: its own TensorFlow.js backend (WASM is single-threaded,
 * so one backend per thread is how every core gets used), its own trunk cache, and the
 * classifiers the main thread told it to load. Messages are handled strictly in order, so
 * a model is loaded and warmed before any batch that names it arrives.
 */

if (!parentPort) throw new Error('workloads/inference/models/worker.ts must run as a worker thread');
const port = parentPort;

/** Serves each backbone with batch-norm folded into its convolutions (fused-trunk.ts): ~3× faster on WASM. */
class ServingTrunkCache extends TrunkCache {
  private readonly served = new Map<string, Promise<{ trunk: Trunk; fused: boolean }>>();
  readonly fusedKeys = new Set<string>();

  override get(spec: BackboneSpec): Promise<Trunk> {
    const key = trunkKey(spec);
    let t = this.served.get(key);
    if (!t) {
      t = super.get(spec).then((plain) => {
        const served = fuseTrunkChecked(plain);
        // Serving never needs the plain trunk again: free its weights (the cache's later dispose is a no-op).
        if (served.fused) plain.dispose();
        return served;
      });
      t.then((r) => r.fused && this.fusedKeys.add(key)).catch(() => this.served.delete(key));
      this.served.set(key, t);
    }
    return t.then((r) => r.trunk);
  }

  override retainOnly(keep: BackboneSpec[]): void {
    const keys = new Set(keep.map(trunkKey));
    for (const [k, t] of this.served) {
      if (keys.has(k)) continue;
      this.served.delete(k);
      this.fusedKeys.delete(k);
      void t.then((r) => r.fused && r.trunk.dispose()).catch(() => undefined);
    }
    super.retainOnly(keep);
  }
}

const trunks = new ServingTrunkCache();
const classifiers = new Map<string, Classifier>();
const send = (msg: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(msg, transfer);

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'load': {
      const started = performance.now();
      const existing = classifiers.get(msg.version);
      const classifier = existing ?? (await loadClassifier(new MemoryObjectStore(msg.files), msg.version, trunks));
      const loadMs = performance.now() - started;
      // Warm-up: the first run of a graph allocates and compiles kernels; do it now, not
      // on a user's request.
      const size = classifier.meta.backbone.inputSize;
      const warmStart = performance.now();
      for (const n of new Set([1, msg.warmupBatch])) await classifier.predict(new Uint8Array(n * size * size * 3), n);
      classifiers.set(msg.version, classifier);
      send({
        type: 'loaded',
        id: msg.id,
        version: msg.version,
        labels: classifier.meta.labels,
        inputSize: size,
        loadMs,
        warmupMs: performance.now() - warmStart,
        fusedTrunk: trunks.fusedKeys.has(trunkKey(classifier.meta.backbone)),
      });
      return;
    }
    case 'unload': {
      const c = classifiers.get(msg.version);
      if (c) {
        classifiers.delete(msg.version);
        c.dispose();
        trunks.retainOnly([...classifiers.values()].map((x) => x.meta.backbone));
      }
      send({ type: 'unloaded', id: msg.id });
      return;
    }
    case 'predict': {
      const started = performance.now();
      const pixels = new Uint8Array(msg.pixels);
      const probs: ArrayBuffer[] = [];
      let dog: ArrayBuffer | null = null;
      for (const version of msg.versions) {
        const c = classifiers.get(version);
        if (!c) throw new Error(`model version ${version} is not loaded in this worker`);
        const out = await c.predict(pixels, msg.n);
        const k = c.meta.labels.length;
        const flat = new Float32Array(msg.n * k);
        out.probs.forEach((r, i) => flat.set(r, i * k));
        probs.push(flat.buffer);
        // Whether it is a dog at all is a property of the image: the first model whose backbone can tell says.
        dog ??= out.dogProbability ? (out.dogProbability.slice().buffer as ArrayBuffer) : null;
      }
      send({ type: 'predicted', id: msg.id, probs, dog, computeMs: performance.now() - started }, dog ? [...probs, dog] : probs);
      return;
    }
  }
}

// The backend is chosen before any message is handled (the pool's first worker probes, the
// others use what it found: worker-pool.ts); then one message at a time, in arrival order.
const backendReady = selectBackend({ log: () => undefined, atBest: (workerData as WorkerData | null)?.backend });
let chain: Promise<void> = backendReady.then(
  () => undefined,
  () => undefined,
);
port.on('message', (msg: ToWorker) => {
  chain = chain.then(() =>
    handle(msg).catch((err: unknown) => send({ type: 'error', id: msg.id, message: (err as Error).message ?? String(err) })),
  );
});

void backendReady.then(
  (backend) => send({ type: 'ready', backend }),
  (err: unknown) => send({ type: 'error', id: -1, message: `backend selection failed: ${(err as Error).message}` }),
);
