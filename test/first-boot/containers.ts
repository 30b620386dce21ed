import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { buildWorkloads } from '../../scripts/build';
import { COMPILED_DIR, IMAGE_WORKDIR } from '../../workloads/core/entry-points';
import type { Container, HttpProbe } from './deployment';

/**
 * The workload image on this machine, and its containers as processes.
 *
 * The image's working directory (/app: `dist/` from the build stage, `node_modules/`) is a
 * temporary directory with the output of `npm run build` and the repository's node_modules;
 * a container's command (`node dist/…js`) runs there with this Node binary, with the image's
 * ENV (read from the Dockerfile's runtime stage), the declared env and what the platform
 * adds. Not modelled: the image's user (this machine runs tests as root) and its Node
 * version (this machine's is used).
 */
const REPO = path.resolve(__dirname, '../..');

export interface Image {
  /** Stands for IMAGE_WORKDIR. */
  workdir: string;
  /** The Dockerfile runtime stage's ENV. */
  env: Record<string, string>;
  /** The Dockerfile's CMD (a container without a command runs it). */
  cmd: string[];
  remove(): Promise<void>;
}

export async function buildImage(): Promise<Image> {
  const workdir = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-first-boot-app-'));
  await buildWorkloads(path.join(workdir, COMPILED_DIR));
  await fs.symlink(path.join(REPO, 'node_modules'), path.join(workdir, 'node_modules'));
  const df = DockerfileParser.parse(readFileSync(path.join(REPO, 'workloads', 'Dockerfile'), 'utf8'));
  const runtime = df.getInstructions().filter((_, i, all) => i > all.map((x) => x.getKeyword()).lastIndexOf('FROM'));
  const env: Record<string, string> = {};
  let cmd: string[] = [];
  for (const ins of runtime) {
    if (ins.getKeyword() === 'ENV') {
      for (const a of ins.getArguments().map((x) => x.getValue())) {
        const [k, ...v] = a.split('=');
        env[k] = v.join('=');
      }
    }
    if (ins.getKeyword() === 'WORKDIR' && ins.getArguments()[0].getValue() !== IMAGE_WORKDIR)
      throw new Error(`the Dockerfile's WORKDIR is not ${IMAGE_WORKDIR}, which entry-points.ts assumes`);
    if (ins.getKeyword() === 'CMD') cmd = JSON.parse(ins.getArgumentsContent() ?? '[]') as string[];
  }
  return { workdir, env, cmd, remove: () => fs.rm(workdir, { recursive: true, force: true }) };
}

export interface RunningContainer {
  name: string;
  child: ChildProcess;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<number | string>;
  exitedAlready(): boolean;
  /** The last lines it printed. */
  tail(n?: number): string;
  stop(): Promise<void>;
}

/** Starts `container` (command + args, or the image's CMD) in the image's working directory. */
export function startContainer(
  image: Image,
  name: string,
  container: Pick<Container, 'command' | 'args'>,
  env: Record<string, string>,
): RunningContainer {
  const argv = container.command.length ? [...container.command, ...container.args] : [...image.cmd, ...container.args];
  if (argv[0] !== 'node') throw new Error(`${name}: the image has only node; the command is ${JSON.stringify(argv)}`);
  const child = spawn(process.execPath, argv.slice(1), { cwd: image.workdir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (lines.length > 400) lines.splice(0, lines.length - 400);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let done = false;
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      done = true;
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  return {
    name,
    child,
    exited,
    exitedAlready: () => done,
    tail: (n = 30) => lines.slice(-n).join('\n'),
    async stop() {
      if (done) return;
      // Cloud Run: SIGTERM, then SIGKILL after 10 s.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface ProbeOutcome {
  passed: boolean;
  attempts: number;
  seconds: number;
  last: string;
}

async function probeOnce(base: string, p: HttpProbe): Promise<{ ok: boolean; what: string }> {
  try {
    const res = await fetch(`${base}${p.path}`, { signal: AbortSignal.timeout(p.timeoutSeconds * 1000) });
    const body = (await res.text()).slice(0, 200);
    // Cloud Run, like Kubernetes: an HTTP probe succeeds on 200-399.
    return { ok: res.status >= 200 && res.status < 400, what: `HTTP ${res.status} ${body}` };
  } catch (err) {
    return { ok: false, what: (err as Error).message };
  }
}

/**
 * Cloud Run's startup probe: after `initialDelaySeconds`, one check per period; the first
 * success starts the revision; `failureThreshold` failures (or the container exiting) fail it.
 */
export async function startupProbe(base: string, p: HttpProbe, c: RunningContainer): Promise<ProbeOutcome> {
  const started = Date.now();
  await new Promise((r) => setTimeout(r, p.initialDelaySeconds * 1000));
  let last = '';
  for (let attempt = 1; attempt <= p.failureThreshold; attempt++) {
    if (c.exitedAlready())
      return { passed: false, attempts: attempt - 1, seconds: (Date.now() - started) / 1000, last: 'the container exited' };
    const tick = Date.now();
    const r = await probeOnce(base, p);
    last = r.what;
    if (r.ok) return { passed: true, attempts: attempt, seconds: (Date.now() - started) / 1000, last };
    await new Promise((res) => setTimeout(res, Math.max(0, p.periodSeconds * 1000 - (Date.now() - tick))));
  }
  return { passed: false, attempts: p.failureThreshold, seconds: (Date.now() - started) / 1000, last };
}

/** Cloud Run's liveness probe, while the test runs: `failureThreshold` failures in a row would restart the container. */
export function livenessProbe(base: string, p: HttpProbe, c: RunningContainer): { failures: string[]; stop(): void } {
  const failures: string[] = [];
  let streak = 0;
  let stopped = false;
  const loop = async (): Promise<void> => {
    while (!stopped && !c.exitedAlready()) {
      await new Promise((r) => setTimeout(r, p.periodSeconds * 1000).unref());
      if (stopped) break;
      const r = await probeOnce(base, p);
      streak = r.ok ? 0 : streak + 1;
      if (streak >= p.failureThreshold) failures.push(`${new Date().toISOString()} ${r.what}`);
    }
  };
  void loop();
  return { failures, stop: () => void (stopped = true) };
}
