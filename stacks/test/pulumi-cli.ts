import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '../repo-artifacts';

/**
 * How the Pulumi CLI starts this program, written down so a test can do exactly the same
 * with a mocked engine (stacks/test/cli-run.test.ts). Sources, read from pulumi/pulumi:
 *
 * - `pkg/engine/project.go` `getPwdMain`: no `main` → working directory = project root,
 *   entry point `.`; `main` a directory → that directory becomes the working directory and
 *   the entry point is `.`; `main` a file → its directory becomes the working directory and
 *   the entry point is its base name.
 * - `sdk/nodejs/cmd/pulumi-language-nodejs/main.go` (`constructArguments`, `execRuntime`):
 *   `node [nodeargs] <@pulumi/pulumi/cmd/run> --monitor A --engine A --organization O
 *   --project P --root-directory R --stack S --pwd <working directory> [--dry-run]
 *   --parallel N <entry point>`, with `PULUMI_CONFIG` and `PULUMI_CONFIG_SECRET_KEYS` (JSON),
 *   `PULUMI_NODEJS_TYPESCRIPT=true` unless `runtime.options.typescript: false`, and
 *   `PULUMI_NODEJS_TSCONFIG_PATH` from `runtime.options.tsconfig`.
 * - `@pulumi/pulumi/cmd/run/run.js`: changes to `--pwd`; entry `.` means the `main` of the
 *   nearest package.json; reads `tsconfig.json` from the working directory (or
 *   PULUMI_NODEJS_TSCONFIG_PATH) and, without one, compiles with its own defaults; type-checks
 *   with ts-node unless PULUMI_NODEJS_TRANSPILE_ONLY or the tsconfig's `noCheck` says not to.
 */

export interface PulumiProject {
  name: string;
  runtime: string | { name: string; options?: { typescript?: boolean; tsconfig?: string; nodeargs?: string } };
  main?: string;
}

export function readPulumiProject(root = REPO_ROOT): PulumiProject {
  return parseYaml(readFileSync(path.join(root, 'Pulumi.yaml'), 'utf8')) as PulumiProject;
}

/** `getPwdMain`: the working directory and entry point the engine hands the language host. */
export function programLocation(root: string, main: string | undefined): { pwd: string; entry: string } {
  if (!main) return { pwd: root, entry: '.' };
  const full = path.isAbsolute(main) ? main : path.resolve(root, main);
  let isDir: boolean;
  try {
    isDir = statSync(full).isDirectory();
  } catch (err) {
    throw new Error(`project 'main' could not be read: ${(err as Error).message}`, { cause: err });
  }
  return isDir ? { pwd: full, entry: '.' } : { pwd: path.dirname(full), entry: path.basename(full) };
}

export interface LanguageHostRun {
  /** The Pulumi project as Pulumi.yaml declares it (tests may pass a variant). */
  project: PulumiProject;
  root?: string;
  stack: string;
  /** Flat `namespace:key` → value, as the engine sends it. */
  config: Record<string, string>;
  secretKeys?: string[];
  /** The mocked engine's address (monitor and engine). */
  address: string;
  dryRun: boolean;
  organization?: string;
  /** Extra environment (e.g. PULUMI_NODEJS_TRANSPILE_ONLY) on top of the test's own. */
  env?: Record<string, string>;
}

/** The exact command line, environment and working directory `pulumi-language-nodejs` would use. */
export function languageHostCommand(run: LanguageHostRun): { args: string[]; env: NodeJS.ProcessEnv; cwd: string } {
  const root = run.root ?? REPO_ROOT;
  const runtime = typeof run.project.runtime === 'string' ? { name: run.project.runtime } : run.project.runtime;
  if (runtime.name !== 'nodejs') throw new Error(`Pulumi.yaml runtime ${runtime.name}: this harness runs nodejs programs only`);
  const options = runtime.options ?? {};
  const { pwd, entry } = programLocation(root, run.project.main);
  const runPath = require.resolve('@pulumi/pulumi/cmd/run', { paths: [pwd] });
  const args = [
    ...(options.nodeargs ? options.nodeargs.split(/\s+/).filter(Boolean) : []),
    runPath,
    '--monitor',
    run.address,
    '--engine',
    run.address,
    ...(run.organization ? ['--organization', run.organization] : []),
    '--project',
    run.project.name,
    '--root-directory',
    root,
    '--stack',
    run.stack,
    '--pwd',
    pwd,
    ...(run.dryRun ? ['--dry-run'] : []),
    '--parallel',
    '16',
    entry,
  ];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PULUMI_CONFIG: JSON.stringify(run.config),
    PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(run.secretKeys ?? []),
    ...(options.typescript !== false ? { PULUMI_NODEJS_TYPESCRIPT: 'true' } : {}),
    ...(options.tsconfig ? { PULUMI_NODEJS_TSCONFIG_PATH: options.tsconfig } : {}),
    ...run.env,
  };
  // The test runner's own switches must not leak into the program (the CLI never sets them).
  for (const k of ['NODE_OPTIONS', 'TS_NODE_PROJECT', 'PULUMI_NODEJS_TRANSPILE_ONLY', 'JEST_WORKER_ID']) if (!run.env?.[k]) delete env[k];
  // The language host does not set the child's directory: `--pwd` makes cmd/run change to it.
  return { args, env, cwd: root };
}

export interface ProgramExit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the program the way the language host does and waits for it to exit. */
export function runLikeLanguageHost(run: LanguageHostRun, timeoutMs = 240_000): Promise<ProgramExit> {
  const { args, env, cwd } = languageHostCommand(run);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the program did not exit within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
