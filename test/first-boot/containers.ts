import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { canSwitchUser, firstUnsearchable, freshHome, type ProcessUser } from '../../pipeline-specs/runner/image-user';
import { buildWorkloads } from '../../scripts/build';
import { COMPILED_DIR, IMAGE_USER, IMAGE_WORKDIR } from '../../workloads/core/entry-points';
import type { Container, HttpProbe } from './deployment';

/**
 * The workload image on this machine, and its containers as processes.
 *
 * The image's working directory (/app: `dist/` from the build stage, `node_modules/`) is a
 * temporary directory with the output of `npm run build` and the repository's node_modules,
 * root's and read-only to others like /app; a container's command (`node dist/…js`) runs
 * there with this Node binary, as the image's user (entry-points.ts `IMAGE_USER`, when this
 * process is root and so can switch) with a fresh HOME of its own, with the image's ENV (read
 * from the Dockerfile's runtime stage), the declared env and what the platform adds. Not
 * modelled: the image's Node version (this machine's is used) and its filesystem (the
 * machine's /tmp and the rest are visible).
 */
const REPO = path.resolve(__dirname, '../..');
const DOCKERFILE = path.join(REPO, 'workloads', 'Dockerfile');

export interface Image {
  /** Stands for IMAGE_WORKDIR. */
  workdir: string;
  /** The Dockerfile runtime stage's ENV. */
  env: Record<string, string>;
  /** The Dockerfile's CMD (a container without a command runs it). */
  cmd: string[];
  /** Who containers run as: the image's user when this process can switch to it (root), else this process's user. */
  user?: ProcessUser;
  /** Where each container's fresh HOME is made (the image's /home/node). */
  homes: string;
  remove(): Promise<void>;
}

/** What the Dockerfile's runtime stage (after the last FROM) sets, checked against what entry-points.ts assumes. */
export function runtimeStage(dockerfile: string): { env: Record<string, string>; cmd: string[]; user: string } {
  const df = DockerfileParser.parse(dockerfile);
  const runtime = df.getInstructions().filter((_, i, all) => i > all.map((x) => x.getKeyword()).lastIndexOf('FROM'));
  const env: Record<string, string> = {};
  let cmd: string[] = [];
  let user = 'root'; // a stage without USER runs as root
  for (const ins of runtime) {
    if (ins.getKeyword() === 'ENV') {
      for (const a of ins.getArguments().map((x) => x.getValue())) {
        const [k, ...v] = a.split('=');
        env[k] = v.join('=');
      }
    }
    if (ins.getKeyword() === 'WORKDIR' && ins.getArguments()[0].getValue() !== IMAGE_WORKDIR)
      throw new Error(`the Dockerfile's WORKDIR is not ${IMAGE_WORKDIR}, which entry-points.ts assumes`);
    if (ins.getKeyword() === 'USER') user = ins.getArgumentsContent() ?? '';
    if (ins.getKeyword() === 'CMD') cmd = JSON.parse(ins.getArgumentsContent() ?? '[]') as string[];
  }
  if (user !== IMAGE_USER.name)
    throw new Error(
      `the Dockerfile's runtime stage runs as ${JSON.stringify(user)}, not as ${IMAGE_USER.name} (uid ${IMAGE_USER.uid}), ` +
        `which entry-points.ts IMAGE_USER assumes; end the runtime stage with USER ${IMAGE_USER.name} or change IMAGE_USER`,
    );
  return { env, cmd, user };
}

export async function buildImage(): Promise<Image> {
  const { env, cmd } = runtimeStage(readFileSync(DOCKERFILE, 'utf8'));
  const workdir = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-first-boot-app-'));
  const homes = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-first-boot-homes-'));
  const remove = async (): Promise<void> => {
    await fs.rm(workdir, { recursive: true, force: true });
    await fs.rm(homes, { recursive: true, force: true });
  };
  try {
    await buildWorkloads(path.join(workdir, COMPILED_DIR));
    await fs.symlink(path.join(REPO, 'node_modules'), path.join(workdir, 'node_modules'));
    // Like `COPY` into the image: root's (whoever built it), readable by all, writable by none but the owner.
    await chmodTree(workdir);
    await fs.chmod(homes, 0o711); // each user reaches its own HOME, lists no one's
    const user = canSwitchUser() ? { uid: IMAGE_USER.uid, gid: IMAGE_USER.gid } : undefined;
    if (user) await assertReadableBy(workdir, user);
    else
      process.stderr.write(
        `[first-boot] not root: containers run as uid ${process.getuid?.()}, not as the image's user ${IMAGE_USER.name} (uid ${IMAGE_USER.uid}), ` +
          `and may write what this user owns (the image's directory among it), which they could not on Google Cloud\n`,
      );
    return { workdir, env, cmd, user, homes, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** Directories 0755, files 0644, symlinks as they are (not followed). */
async function chmodTree(dir: string): Promise<void> {
  await fs.chmod(dir, 0o755);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await chmodTree(p);
    else if (entry.isFile()) await fs.chmod(p, 0o644);
  }
}

/**
 * The image's node_modules is the checkout's (a symlink): the image's user must reach it,
 * through every directory above the checkout. Checked once by resolving a dependency as that
 * user, so a checkout under a private directory (e.g. /root) fails here, clearly, rather than
 * as every container's EACCES.
 */
export async function assertReadableBy(workdir: string, user: ProcessUser): Promise<void> {
  const probe = spawn(process.execPath, ['-e', "require.resolve('fastify')"], {
    cwd: workdir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    uid: user.uid,
    gid: user.gid,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  probe.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exit = await new Promise<number | string>((resolve) => {
    probe.once('error', (err) => resolve(err.message));
    probe.once('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  if (exit === 0) return;
  const modules = await fs.realpath(path.join(workdir, 'node_modules'));
  const blocked = (await firstUnsearchable(modules, user)) ?? (await firstUnsearchable(process.execPath, user));
  throw new Error(
    `the image's user ${IMAGE_USER.name} (uid ${user.uid}) cannot load the image's dependencies (${modules}, via the checkout): ` +
      (blocked
        ? `${blocked} is not searchable by it. Let others traverse it (chmod o+x ${blocked}; .ci/run's install step does this in CI) or clone the repository where others can read it.`
        : `node -e "require.resolve('fastify')" failed (${exit}): ${stderr.trim().slice(-400)}`),
  );
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

/** Starts `container` (command + args, or the image's CMD) in the image's working directory, as the image's user. */
export function startContainer(
  image: Image,
  name: string,
  container: Pick<Container, 'command' | 'args'>,
  env: Record<string, string>,
): RunningContainer {
  const argv = container.command.length ? [...container.command, ...container.args] : [...image.cmd, ...container.args];
  if (argv[0] !== 'node') throw new Error(`${name}: the image has only node; the command is ${JSON.stringify(argv)}`);
  // As Cloud Run starts it: the image's user, HOME from its passwd entry (new in every container) unless declared.
  const home = freshHome(path.join(image.homes, `${name}-`), image.user);
  const child = spawn(process.execPath, argv.slice(1), {
    cwd: image.workdir,
    env: { HOME: home, ...env },
    uid: image.user?.uid,
    gid: image.user?.gid,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
