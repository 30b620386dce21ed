import { spawn } from 'node:child_process';
import * as path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '../..');

/**
 * Compiles the inference service (entry point and worker thread) to JavaScript with tsc,
 * as a production image would, into `outDir`. Returns the path of the compiled main.js.
 * Used by the compiled-JS test and the serving benchmark, which must not depend on tsx.
 */
export async function compileInferenceService(outDir: string): Promise<string> {
  const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [
    tsc,
    '--outDir',
    outDir,
    '--rootDir',
    REPO_ROOT,
    '--module',
    'commonjs',
    '--target',
    'ES2022',
    '--esModuleInterop',
    '--strict',
    '--skipLibCheck',
    '--resolveJsonModule',
    '--lib',
    'ES2023,DOM',
    '--sourceMap',
    'false',
    path.join(REPO_ROOT, 'workloads/inference/main.ts'),
    path.join(REPO_ROOT, 'workloads/inference/models/worker.ts'),
  ];
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const p = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.on('data', (d: Buffer) => (output += d.toString()));
    p.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // Exit code 2 = type errors reported; tsc still emits, and typechecking is `npm run typecheck`'s job.
    p.on('exit', (code) => (code === 0 || code === 2 ? resolve() : reject(new Error(`tsc exited with ${code}: ${output.slice(-2000)}`))));
  });
  return path.join(outDir, 'workloads/inference/main.js');
}
