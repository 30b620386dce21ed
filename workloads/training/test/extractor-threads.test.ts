import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { baseSpec } from '../../core/model/backbones';
import { BACKEND_LOADERS, type BackendLoader, type BackendName, pickBackend } from '../../core/tf/backend';
import { IDENTITY } from '../features/augment';
import { FeatureExtractor } from '../features/extractor';

/**
 * Training's frozen feature extraction follows the threading model of core/tf/backend.ts:
 * where tfjs-node loads (the production image) it extracts in the calling thread on native
 * TensorFlow (whose intra-op pool uses every core; tfjs-node cannot load in a second thread,
 * so worker threads would silently run WASM); elsewhere, WASM in one worker thread per core
 * (or as configured). The availability check is the real probe with mocked loaders.
 */
const DOGS = path.resolve(__dirname, '../../../../shared/datasets/dogs');
const spec = baseSpec('mobilenet_v2_035');

function photos(n: number): Buffer[] {
  const breed = readdirSync(DOGS).sort()[0];
  return readdirSync(path.join(DOGS, breed))
    .sort()
    .slice(0, n)
    .map((f) => readFileSync(path.join(DOGS, breed, f)));
}
const NONE = IDENTITY;

/** This thread's backend as the real probe finds it when only `available` can load (the others fail as a missing package does). */
const probeWith = (available: BackendName, loader?: BackendLoader) => () =>
  pickBackend({
    log: () => undefined,
    loaders: {
      tensorflow:
        available === 'tensorflow'
          ? (loader ?? (async () => true))
          : async () => Promise.reject(new Error("Cannot find module '@tensorflow/tfjs-node'")),
      wasm: available === 'tensorflow' || available === 'wasm' ? BACKEND_LOADERS.wasm : async () => false,
      cpu: BACKEND_LOADERS.cpu,
    },
  });

describe('FeatureExtractor threads', () => {
  test('native TensorFlow available: extracts in this thread, no worker threads, whatever workers says', async () => {
    // The mocked native loader registers WASM underneath, so the forward pass can run here.
    const fx = await FeatureExtractor.start(spec, {
      workers: 3,
      cores: 2,
      batchSize: 2,
      selectBackend: probeWith('tensorflow', BACKEND_LOADERS.wasm),
    });
    try {
      // Before: each worker probed on its own, failed to load tfjs-node there and ran WASM.
      expect(fx.backend).toBe('tensorflow');
      expect({ threads: fx.threads, planned: fx.plan.threads }).toEqual({ threads: 0, planned: 1 });
      expect(fx.plan.reason).toMatch(/^native TensorFlow in 1 thread.*3 configured workers ignored/);
      const out = await fx.extract(photos(3).map((jpeg) => ({ jpeg, aug: NONE })));
      expect(out.length).toBe(3 * 1280);
      expect(out.every(Number.isFinite)).toBe(true);
    } finally {
      await fx.close();
    }
  }, 120_000);

  test('no native TensorFlow: WASM in worker threads, one per core, or as configured', async () => {
    const perCore = await FeatureExtractor.start(spec, { cores: 2, selectBackend: probeWith('wasm') });
    const configured = await FeatureExtractor.start(spec, { workers: 1, cores: 2, selectBackend: probeWith('wasm') });
    try {
      expect([perCore.backend, perCore.threads]).toEqual(['wasm', 2]);
      expect([configured.backend, configured.threads]).toEqual(['wasm', 1]);
      expect(configured.plan.reason).toMatch(/^wasm in 1 worker threads, as configured/);
    } finally {
      await perCore.close();
      await configured.close();
    }
  }, 120_000);
});
