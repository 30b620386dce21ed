import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { type BackendLoader, type BackendName, pickBackend, planThreads } from '../tf/backend';

const REPO = path.resolve(__dirname, '../../..');

/**
 * The production threading model, decided by code and tested here without tfjs-node (it
 * cannot be installed offline): backend selection with injected loaders, the plan as a
 * pure function, and the inference worker pool against a stand-in `@tensorflow/tfjs-node`
 * that, like the real addon, loads in one thread of a process only.
 */
const loaders = (
  behaviour: Partial<Record<BackendName, boolean | string>>,
  calls: BackendName[] = [],
): Record<BackendName, BackendLoader> =>
  Object.fromEntries(
    (['tensorflow', 'wasm', 'cpu'] as const).map((name) => [
      name,
      async () => {
        calls.push(name);
        const b = behaviour[name] ?? true;
        if (typeof b === 'string') throw new Error(b);
        return b;
      },
    ]),
  ) as Record<BackendName, BackendLoader>;

describe('backend selection', () => {
  test('native first; a failed native load falls back to WASM and says why', async () => {
    const logs: string[] = [];
    expect(await pickBackend({ loaders: loaders({}), log: (m) => logs.push(m) })).toBe('tensorflow');
    expect(
      await pickBackend({
        loaders: loaders({ tensorflow: 'Module did not self-register: tfjs_binding.node\n    at …' }),
        log: (m) => logs.push(m),
      }),
    ).toBe('wasm');
    expect(logs).toEqual(['tfjs backend: tensorflow', 'tfjs backend: wasm (tensorflow: Module did not self-register: tfjs_binding.node)']);
  });

  test('a thread told the backend never tries a better one; the CPU backend is the last resort; nothing at all is an error', async () => {
    const calls: BackendName[] = [];
    expect(await pickBackend({ atBest: 'wasm', loaders: loaders({}, calls), log: () => undefined })).toBe('wasm');
    expect(calls).toEqual(['wasm']);
    expect(await pickBackend({ loaders: loaders({ tensorflow: 'Cannot find module', wasm: false }), log: () => undefined })).toBe('cpu');
    await expect(pickBackend({ loaders: loaders({ tensorflow: 'a', wasm: 'b', cpu: false }), log: () => undefined })).rejects.toThrow(
      'no TensorFlow.js backend could be loaded (tensorflow: a; wasm: b; cpu: not available)',
    );
  });
});

describe('thread plan', () => {
  test('native TensorFlow: one model thread, whatever is configured; its intra-op pool uses the cores', () => {
    expect(planThreads({ backend: 'tensorflow', configured: 0, cores: 8 })).toMatchObject({ threads: 1 });
    const plan = planThreads({ backend: 'tensorflow', configured: 4, cores: 8 });
    expect(plan.threads).toBe(1);
    expect(plan.reason).toContain('4 configured workers ignored');
    expect(plan.reason).toContain('intra-op thread pool over 8 cores');
  });

  test('WASM and CPU: one thread per core, or as configured', () => {
    expect(planThreads({ backend: 'wasm', configured: 0, cores: 6 })).toMatchObject({ threads: 6 });
    expect(planThreads({ backend: 'wasm', configured: 2, cores: 6 })).toMatchObject({ threads: 2 });
    expect(planThreads({ backend: 'cpu', configured: 0, cores: 1 })).toMatchObject({ threads: 1 });
  });
});

describe('inference worker pool against a stand-in tfjs-node that loads in one thread per process', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cv-fake-tfjs-node-'));
    const pkg = path.join(dir, 'node_modules', '@tensorflow', 'tfjs-node');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: '@tensorflow/tfjs-node', main: 'index.js' }));
    const repoModules = path.join(REPO, 'node_modules');
    // Records each load attempt; like the real addon, a second thread's load fails. Registers a
    // backend named `tensorflow` (the CPU backend, kernel-less under that name: enough to be selected).
    writeFileSync(
      path.join(pkg, 'index.js'),
      `const fs = require('fs');
       fs.appendFileSync(process.env.FAKE_TFJS_NODE_LOG, require('worker_threads').threadId + '\\n');
       if (process.env.FAKE_TFJS_NODE_MODE === 'absent') throw new Error('libtensorflow.so.2: cannot open shared object file');
       try { fs.mkdirSync(process.env.FAKE_TFJS_NODE_LOCK); } catch { throw new Error('Module did not self-register: tfjs_binding.node'); }
       const tf = require(${JSON.stringify(path.join(repoModules, '@tensorflow/tfjs'))});
       const { MathBackendCPU } = require(${JSON.stringify(path.join(repoModules, '@tensorflow/tfjs-backend-cpu'))});
       tf.registerBackend('tensorflow', () => new MathBackendCPU(), 3);`,
    );
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The pool in a process of its own, whose module path has the stand-in (where the image has the real one). */
  const run = (mode: 'native' | 'absent', workers: number) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures/pool-threads.ts'), String(workers), '3'], {
      env: {
        ...process.env,
        NODE_PATH: path.join(dir, 'node_modules'),
        FAKE_TFJS_NODE_MODE: mode,
        FAKE_TFJS_NODE_LOG: path.join(dir, 'attempts.log'),
        FAKE_TFJS_NODE_LOCK: path.join(dir, 'loaded'),
      },
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (r.status !== 0) throw new Error(`pool-threads.ts failed (${r.status}): ${r.stderr}`);
    const attempts = readFileSync(path.join(dir, 'attempts.log'), 'utf8').split('\n').filter(Boolean).length;
    return { ...(JSON.parse(r.stdout) as { backend: string; size: number; log: Record<string, unknown> }), attempts };
  };

  test('native available: one worker runs it, even with 4 configured, and only that worker loads the addon', () => {
    const r = run('native', 4);
    expect(r).toMatchObject({ backend: 'tensorflow', size: 1, attempts: 1 });
    expect(r.log).toMatchObject({ backend: 'tensorflow', threads: 1, cores: 3 });
    expect(String(r.log.msg)).toContain('native TensorFlow in 1 thread');
  }, 150_000);

  test('native absent: the first worker falls back to WASM, the others start on WASM without trying native', () => {
    const r = run('absent', 0);
    expect(r).toMatchObject({ backend: 'wasm', size: 3, attempts: 1 });
    expect(String(r.log.msg)).toBe('wasm in 3 worker threads, one per core (single-threaded backend; tfjs-node not loaded)');
  }, 150_000);
});
