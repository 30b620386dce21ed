import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { photos, REPO_ROOT, splitPhotos, tempRoot, TempRoot, writeDatasetVersion } from './fixtures';

/**
 * Crash and resume through the real entry point (CV_E2E): the training CLI is killed
 * (SIGKILL) right after its first checkpoint; the same command again resumes from it and
 * finishes a usable model version whose weights equal those of an uninterrupted run.
 */
const maybe = process.env.CV_E2E ? describe : describe.skip;
const BREEDS = ['beagle', 'pug', 'siberian_husky'];

function cli(root: TempRoot, args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'workloads/training/cli.ts'), ...args], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH,
      CV_DATA_ROOT: root.dir,
      CV_LOG_LEVEL: 'warn',
      CV_MODEL_BACKBONE: 'mobilenet_v2_035',
      CV_TRAINING_EPOCHS: '3',
      CV_TRAINING_FINE_TUNE_EPOCHS: '6',
      CV_TRAINING_FINE_TUNE_LAYERS: '4',
      CV_TRAINING_PATIENCE: '10',
      CV_TRAINING_BATCH_SIZE: '8',
      CV_TRAINING_AUGMENT_VARIANTS: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function finish(p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal, out })));
}

maybe('training CLI: kill and resume', () => {
  let root: TempRoot;
  beforeAll(async () => {
    root = tempRoot();
    await writeDatasetVersion(root.lake, 'd1', BREEDS, splitPhotos(photos(BREEDS, 20)));
  });
  afterAll(() => root?.cleanup());

  it('resumes after SIGKILL and produces the same model as an uninterrupted run', async () => {
    // Reference run (also fills the trunk-feature cache, so the killed run reaches training fast).
    const ref = await finish(cli(root, ['--run-id', 'ref', '--dataset-version', 'd1', '--model-version', 'm-ref', '--parent', 'none']));
    expect(ref.code).toBe(0);

    const checkpoint = path.join(root.dir, 'models', 'checkpoints', 'crash', 'checkpoint.bin');
    const args = [
      '--run-id',
      'crash',
      '--dataset-version',
      'd1',
      '--model-version',
      'm-crash',
      '--parent',
      'none',
      '--out-model-version',
      path.join(root.dir, 'out.txt'),
    ];
    const first = cli(root, args);
    const exited = finish(first);
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (existsSync(checkpoint)) {
          clearInterval(timer);
          first.kill('SIGKILL');
          resolve();
        }
      }, 20);
      void exited.then(() => {
        clearInterval(timer);
        reject(new Error('the training CLI finished before it could be killed'));
      });
    });
    expect((await exited).signal).toBe('SIGKILL');
    expect(existsSync(path.join(root.dir, 'models', 'versions', 'm-crash', 'COMPLETE.json'))).toBe(false);

    const second = await finish(cli(root, args));
    expect(second.code).toBe(0);
    expect(second.out).toMatch(/resumed after epoch \d+/);
    expect(readFileSync(path.join(root.dir, 'out.txt'), 'utf8')).toBe('m-crash');
    expect(existsSync(checkpoint)).toBe(false);

    const weights = (v: string) => readFileSync(path.join(root.dir, 'models', 'versions', v, 'head', 'weights.bin'));
    expect(weights('m-crash').equals(weights('m-ref'))).toBe(true);
    const metrics = (v: string) => JSON.parse(readFileSync(path.join(root.dir, 'models', 'versions', v, 'metrics.json'), 'utf8'));
    expect(metrics('m-crash').test.top1).toBe(metrics('m-ref').test.top1);
    expect(metrics('m-crash').test.top1).toBeGreaterThan(0.5);
  }, 600_000);
});
