import * as tf from '@tensorflow/tfjs';
import * as os from 'node:os';

/**
 * Picks the TensorFlow.js backend once per process: native `tfjs-node` when it is
 * installed (the production container images install it), else WASM, else the plain
 * JavaScript CPU backend (about 12× slower than WASM). Says which it picked.
 *
 * WASM is single-threaded in Node, so work that must use every core runs one backend per
 * worker thread (see the inference worker pool and the training feature extractor).
 */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

let selected: Promise<BackendName> | undefined;

export function selectBackend(log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`)): Promise<BackendName> {
  selected ??= (async () => {
    try {
      // Optional native runtime: present in the container images, absent on machines
      // that cannot download its native library at install time.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@tensorflow/tfjs-node');
      if (await tf.setBackend('tensorflow')) {
        await tf.ready();
        log('tfjs backend: tensorflow (native @tensorflow/tfjs-node)');
        return 'tensorflow';
      }
    } catch {
      /* not installed: fall through */
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(wasmDir());
      if (await tf.setBackend('wasm')) {
        await tf.ready();
        log(`tfjs backend: wasm (tfjs-node not installed; single-threaded per worker, ${os.availableParallelism()} cores)`);
        return 'wasm';
      }
    } catch (err) {
      log(`tfjs backend: wasm unavailable (${(err as Error).message})`);
    }
    await tf.setBackend('cpu');
    await tf.ready();
    log('tfjs backend: cpu (pure JavaScript; slow)');
    return 'cpu';
  })();
  return selected;
}

function wasmDir(): string {
  const entry = require.resolve('@tensorflow/tfjs-backend-wasm');
  // .../tfjs-backend-wasm/dist/tf-backend-wasm.node.js → .../dist/
  return entry.slice(0, entry.lastIndexOf('/') + 1);
}

export { tf };
