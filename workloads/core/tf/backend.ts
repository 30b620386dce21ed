import * as tf from '@tensorflow/tfjs';
import * as os from 'node:os';

/**
 * Picks the TensorFlow.js backend once per thread, and decides how many threads run
 * models: the production threading model, made explicit.
 *
 * Backends, best first: native `tfjs-node` (the container image installs it), else WASM,
 * else the plain JavaScript CPU backend (about 12× slower than WASM). Offline machines
 * cannot install tfjs-node, so they run WASM.
 *
 * Threads ({@link planThreads}):
 *  - native TensorFlow: ONE model thread per process. tfjs-node's addon loads in one thread
 *    of a process only (a second worker thread fails with "Module did not self-register",
 *    tfjs issues), and it needs no more: TensorFlow runs each op on its own intra-op thread
 *    pool, which uses every core of the container.
 *  - WASM and CPU: one model thread per core (or as configured). Both run single-threaded
 *    in Node, so worker threads are how every core gets used.
 * The first model thread probes (native, else WASM, else CPU); the others are told the
 * backend it found, so none of them tries a native load that cannot succeed.
 */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

/** Registers a backend with TensorFlow.js; resolves false (or throws) when it cannot. */
export type BackendLoader = () => Promise<boolean>;

/** How each backend is loaded; tests inject their own. */
export const BACKEND_LOADERS: Record<BackendName, BackendLoader> = {
  async tensorflow() {
    // Optional native runtime: present in the container image, absent where its install
    // step could not download libtensorflow.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('@tensorflow/tfjs-node');
    return activate('tensorflow');
  },
  async wasm() {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(wasmDir());
    return activate('wasm');
  },
  cpu: () => activate('cpu'),
};

async function activate(name: BackendName): Promise<boolean> {
  if (!(await tf.setBackend(name))) return false;
  await tf.ready();
  return true;
}

export interface SelectOptions {
  /** Say what was picked, and why the better ones were not. */
  log?: (msg: string) => void;
  /** Only this backend or worse (a model thread told what the first one found). Default: try all. */
  atBest?: BackendName;
  loaders?: Record<BackendName, BackendLoader>;
}

let selected: Promise<BackendName> | undefined;

/** The best backend this thread can load, from `atBest` down; chosen once per thread. */
export function selectBackend(options: SelectOptions | ((msg: string) => void) = {}): Promise<BackendName> {
  const opts = typeof options === 'function' ? { log: options } : options;
  selected ??= pickBackend(opts);
  return selected;
}

/** {@link selectBackend} without the once-per-thread memo (tests). */
export async function pickBackend(options: SelectOptions = {}): Promise<BackendName> {
  const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const loaders = options.loaders ?? BACKEND_LOADERS;
  const missed: string[] = [];
  for (const name of BACKENDS.slice(BACKENDS.indexOf(options.atBest ?? 'tensorflow'))) {
    try {
      if (await loaders[name]()) {
        log(`tfjs backend: ${name}${missed.length ? ` (${missed.join('; ')})` : ''}`);
        return name;
      }
      missed.push(`${name}: not available`);
    } catch (err) {
      missed.push(`${name}: ${firstLine(err)}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could be loaded (${missed.join('; ')})`);
}

export interface ThreadPlan {
  backend: BackendName;
  /** Model threads to run. */
  threads: number;
  /** One line for the start-up log: what runs where, and why. */
  reason: string;
}

/**
 * How many model threads a process runs, given the backend its first model thread loaded,
 * the configured count (0 = automatic) and the cores it has.
 */
export function planThreads(input: { backend: BackendName; configured: number; cores: number }): ThreadPlan {
  const { backend, configured, cores } = input;
  if (backend === 'tensorflow') {
    const ignored = configured > 1 ? `; ${configured} configured workers ignored` : '';
    return {
      backend,
      threads: 1,
      reason: `native TensorFlow in 1 thread, ops on its intra-op thread pool over ${cores} cores (tfjs-node loads in one thread per process${ignored})`,
    };
  }
  const threads = configured > 0 ? configured : cores;
  const why = configured > 0 ? 'as configured' : 'one per core';
  return { backend, threads, reason: `${backend} in ${threads} worker threads, ${why} (single-threaded backend; tfjs-node not loaded)` };
}

/** The cores this process may use. */
export const availableCores = (): number => os.availableParallelism();

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}

function wasmDir(): string {
  const entry = require.resolve('@tensorflow/tfjs-backend-wasm');
  // .../tfjs-backend-wasm/dist/tf-backend-wasm.node.js → .../dist/
  return entry.slice(0, entry.lastIndexOf('/') + 1);
}

export { tf };
