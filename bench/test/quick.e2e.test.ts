import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/**
 * The benchmarks in their quick mode (BENCH_QUICK=1: a few photos per breed, one round):
 * they run to the end and print their tables, so a change that breaks a benchmark is
 * caught in CI. Numbers are not checked (timing is never asserted; the lead runs the full
 * benchmarks on a quiet machine) and nothing is appended to bench/RESULTS.md. Slow: CV_E2E.
 */
const maybe = process.env.CV_E2E ? it : it.skip;
const REPO = path.resolve(__dirname, '..', '..');

function runBench(script: string): string {
  const res = spawnSync(process.execPath, ['--import', 'tsx', path.join('bench', script)], {
    cwd: REPO,
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CV_'))),
      BENCH_QUICK: '1',
      BENCH_RESULTS: '0',
      CV_LOG_LEVEL: 'warn',
    },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 12 * 60_000,
  });
  if (res.status !== 0) throw new Error(`bench/${script} exited ${res.status}:\n${(res.stderr ?? '').slice(-4000)}`);
  return res.stdout;
}

describe('benchmarks, quick mode', () => {
  maybe(
    'bench:open-set calibrates on a few photos and non-dog images',
    () => {
      const out = runBench('open-set.ts');
      expect(out).toMatch(/\| notADogBelow \|/);
      expect(out).toMatch(/\*\*Model zero\*\*/);
      expect(out).toMatch(/\| unknownBreedBelow \|/);
    },
    15 * 60_000,
  );

  maybe(
    'bench:backbones compares every candidate',
    () => {
      const out = runBench('backbones.ts');
      for (const row of ['mobilenet_v2_035 @ 224', 'mobilenet_v2_100 @ 160', 'mobilenet_v2_100 @ 192', 'mobilenet_v2_100 @ 224'])
        expect(out).toContain(row);
    },
    15 * 60_000,
  );

  maybe(
    'bench:train runs model zero, a cold and a warm cycle',
    () => {
      const out = runBench('train.ts');
      expect(out).toMatch(/model zero \(zero-shot/);
      expect(out).toMatch(/cycle 2 \(warm\): whole cycle/);
    },
    15 * 60_000,
  );
});
