import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { COMPILED_DIR, compiledFile, type EntryPoint } from '../workloads/core/entry-points';

/**
 * `npm run build`: what the container image runs (workloads/Dockerfile's build stage runs
 * this), and what tests and benchmarks run when they must run as the image does.
 *
 * 1. tsc compiles the workloads and the pipeline code (tsconfig.build.json: no tests, no
 *    stacks) into `<outDir>/`, mirroring the source tree: `workloads/inference/main.ts` →
 *    `dist/workloads/inference/main.js` (entry-points.ts names these paths).
 * 2. The runtime files that are not TypeScript are copied to the same relative paths, so
 *    code that finds them next to itself (`path.join(__dirname, 'static')`) finds them in
 *    the build too.
 */
const REPO_ROOT = path.resolve(__dirname, '..');

/** Non-TypeScript files the workloads read at run time, relative to the repository root. */
export const RUNTIME_ASSETS = ['workloads/inference/static', 'workloads/monitoring/static', 'pipeline-specs/compiled'] as const;

/** Builds into `outDir` (default `<repo>/dist`) and returns it. Rejects with tsc's errors. */
export async function buildWorkloads(outDir: string = path.join(REPO_ROOT, COMPILED_DIR)): Promise<string> {
  const tsc = require.resolve('typescript/bin/tsc');
  let output = '';
  const code = await new Promise<number | null>((resolve, reject) => {
    const p = spawn(process.execPath, [tsc, '-p', path.join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', outDir], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    p.stdout.on('data', (d: Buffer) => (output += d.toString()));
    p.stderr.on('data', (d: Buffer) => (output += d.toString()));
    p.on('error', reject);
    p.on('exit', resolve);
  });
  if (code !== 0) throw new Error(`tsc -p tsconfig.build.json exited with ${code}:\n${output.slice(-4000)}`);
  for (const asset of RUNTIME_ASSETS) {
    await fs.cp(path.join(REPO_ROOT, asset), path.join(outDir, asset), { recursive: true });
  }
  return outDir;
}

/** An entry point's compiled file in a build made into `outDir`. */
export function builtFile(outDir: string, entry: EntryPoint): string {
  return path.join(outDir, path.relative(COMPILED_DIR, compiledFile(entry.source)));
}

if (require.main === module) {
  const outDir = process.argv[2] ? path.resolve(process.argv[2]) : undefined;
  buildWorkloads(outDir).then(
    (dir) => process.stdout.write(`built ${path.relative(process.cwd(), dir) || '.'}\n`),
    (err: Error) => {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    },
  );
}
