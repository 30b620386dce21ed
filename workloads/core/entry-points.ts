import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Every way a workload process is started, named once. The container image's default
 * command, the Cloud Run services and job (stacks/program.ts, components/), the compiled
 * pipeline spec's executors (pipeline-specs/components.ts), the local runner and the
 * local services all derive their command lines from here.
 *
 * The container runs compiled JavaScript: `node dist/<source>.js`, relative to the image's
 * working directory (`IMAGE_WORKDIR`, where the build stage's `dist/` and the production
 * `node_modules` are). A checkout runs the TypeScript source through tsx instead (Node 20,
 * no build step), with exactly the same arguments.
 */
export interface EntryPoint {
  /** The TypeScript source, relative to the repository root. */
  readonly source: string;
  /** Arguments that select this entry point's mode (a sub-command, a stage), before any flags. */
  readonly args: readonly string[];
  /** What runs it, in a few words (docs, `npm run synth`). */
  readonly runsAs: string;
}

export const ENTRY_POINTS = {
  inferenceService: {
    source: 'workloads/inference/main.ts',
    args: [],
    runsAs: 'Cloud Run service: predict, classify uploads, feedback (listens on $PORT)',
  },
  triggerService: {
    source: 'workloads/trigger/cli.ts',
    args: ['serve'],
    runsAs: 'Cloud Run service: the retraining check Cloud Scheduler calls (listens on $PORT)',
  },
  triggerCheck: {
    source: 'workloads/trigger/cli.ts',
    args: ['check'],
    runsAs: 'pipeline step check-trigger, and `npm run trigger -- check`',
  },
  preprocess: {
    source: 'workloads/preprocessing/cli.ts',
    args: [],
    runsAs: 'pipeline step preprocess (plan, transform on the task engine, commit)',
  },
  preprocessTransformTask: {
    source: 'workloads/preprocessing/cli.ts',
    // Each execution adds `--version V`; the task index and count come from CLOUD_RUN_TASK_INDEX/COUNT.
    args: ['--stage', 'transform', '--no-progress'],
    runsAs: 'Cloud Run job task: one share of a planned dataset version',
  },
  train: {
    source: 'workloads/training/cli.ts',
    args: [],
    runsAs: 'pipeline step train',
  },
  evaluate: {
    source: 'workloads/evaluation/cli.ts',
    args: ['evaluate'],
    runsAs: 'pipeline step evaluate (champion vs challenger gate)',
  },
  promote: {
    source: 'workloads/evaluation/cli.ts',
    args: ['promote'],
    runsAs: 'pipeline step promote (atomic registry pointer move)',
  },
  rollback: {
    source: 'workloads/evaluation/cli.ts',
    args: ['rollback'],
    runsAs: 'by hand: `npm run rollback -- --to VERSION`',
  },
  registryStatus: {
    source: 'workloads/evaluation/cli.ts',
    args: ['status'],
    runsAs: 'by hand: `npm run registry`',
  },
  review: {
    source: 'workloads/review/cli.ts',
    args: [],
    runsAs: "by hand: `npm run review -- list|approve|reject` (operator review of users' labels)",
  },
} as const satisfies Record<string, EntryPoint>;

export type EntryPointName = keyof typeof ENTRY_POINTS;

/** The container image's working directory: `dist/` and `node_modules/` are under it. */
export const IMAGE_WORKDIR = '/app';
/**
 * The user every container of the image runs as: the Dockerfile's runtime stage ends with
 * `USER node`, the official node images' unprivileged user, which the base image creates as
 * uid 1000, gid 1000, home /home/node. Cloud Run and Vertex AI start the container as that
 * user, so a workload may write only where it may: its HOME, /tmp and the storage it is given,
 * never IMAGE_WORKDIR (root-owned). The local runner and the first-boot test start processes
 * by these numbers (this machine's passwd need not name uid 1000 `node`); the first-boot test
 * refuses a Dockerfile whose runtime USER is not `name`.
 */
export const IMAGE_USER = { name: 'node', uid: 1000, gid: 1000 } as const;
/** Where `tsc` writes the compiled JavaScript, relative to the repository root and to `IMAGE_WORKDIR`. */
export const COMPILED_DIR = 'dist';

/** `workloads/trigger/cli.ts` → `dist/workloads/trigger/cli.js`. */
export function compiledFile(source: string): string {
  if (!source.endsWith('.ts')) throw new Error(`entry point source ${JSON.stringify(source)} is not a .ts file`);
  return `${COMPILED_DIR}/${source.slice(0, -'.ts'.length)}.js`;
}

/** The container's command (Cloud Run `commands`, KFP `command`): `node dist/…js`. */
export function containerCommand(entry: EntryPoint): string[] {
  return ['node', compiledFile(entry.source)];
}

/** Command and mode arguments as one argv, for a container that takes no further arguments. */
export function containerArgv(entry: EntryPoint): string[] {
  return [...containerCommand(entry), ...entry.args];
}

/**
 * The TypeScript source that a container command (`node dist/…js`) runs, so a local runner
 * can run the same step from a checkout. Throws for a command that is no entry point.
 */
export function sourceOfContainerCommand(command: readonly string[]): string {
  const [node, file] = command;
  const entry = Object.values(ENTRY_POINTS).find((e) => compiledFile(e.source) === file);
  if (node !== 'node' || !entry || command.length !== 2) {
    const known = [...new Set(Object.values(ENTRY_POINTS).map((e) => containerCommand(e).join(' ')))];
    throw new Error(`${JSON.stringify(command)} is not a workload entry point's container command; known: ${known.join(' | ')}`);
  }
  return entry.source;
}

/**
 * How a checkout starts a source file without a build: this Node binary with tsx's loader,
 * both by absolute path, so the working directory can be anything (as in the image).
 */
export function sourceArgv(repoRoot: string, source: string): string[] {
  return [process.execPath, '--import', pathToFileURL(require.resolve('tsx')).href, path.join(repoRoot, source)];
}
