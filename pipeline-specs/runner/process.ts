import { spawn } from 'node:child_process';
import type { ProcessUser } from './image-user';

/**
 * Runs one step as a child process: streams its output line by line, keeps the last lines
 * for error messages, and stops it on abort (SIGTERM, then SIGKILL after a grace period,
 * the way a container runtime stops a container).
 *
 * The step runs in its own process group, and stopping signals the whole group: anything
 * the step started stops with it, and a Ctrl-C in the terminal reaches only the supervisor,
 * which then stops the step in order (instead of every process dying at once mid-write).
 */

export interface ProcessOptions {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Run as this user (only root may); default: as this process's user. */
  user?: ProcessUser;
  signal?: AbortSignal;
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
  /** How many trailing lines to keep for the error message. */
  tailLines?: number;
  /** Time between SIGTERM and SIGKILL on abort. */
  graceMs?: number;
}

export interface ProcessResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The process was stopped because the abort signal fired. */
  aborted: boolean;
  tail: string[];
  /** Set when the command could not be started at all (ENOENT, EACCES). */
  spawnError?: Error;
}

export function runProcess(options: ProcessOptions): Promise<ProcessResult> {
  const { tailLines = 40, graceMs = 10_000 } = options;
  const tail: string[] = [];
  const keep = (stream: 'stdout' | 'stderr', line: string): void => {
    tail.push(line);
    if (tail.length > tailLines) tail.shift();
    options.onLine?.(stream, line);
  };
  return new Promise((resolve) => {
    if (options.signal?.aborted) {
      resolve({ exitCode: null, signal: null, aborted: true, tail });
      return;
    }
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env,
      uid: options.user?.uid,
      gid: options.user?.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const signalGroup = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        child.kill(sig); // the group is gone already, or no pid: signal the child itself
      }
    };
    const onAbort = (): void => {
      aborted = true;
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      killTimer.unref();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const splitter = (stream: 'stdout' | 'stderr'): ((chunk: Buffer) => void) & { flush: () => void } => {
      let pending = '';
      const fn = ((chunk: Buffer) => {
        pending += chunk.toString('utf8');
        const lines = pending.split(/\r?\n/);
        pending = lines.pop() ?? '';
        for (const line of lines) keep(stream, line);
      }) as ((chunk: Buffer) => void) & { flush: () => void };
      fn.flush = () => {
        if (pending) keep(stream, pending);
        pending = '';
      };
      return fn;
    };
    const out = splitter('stdout');
    const err = splitter('stderr');
    child.stdout.on('data', out);
    child.stderr.on('data', err);

    let spawnError: Error | undefined;
    child.on('error', (e) => {
      spawnError = e;
    });
    child.on('close', (exitCode, signal) => {
      out.flush();
      err.flush();
      if (killTimer) clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ exitCode, signal, aborted, tail, spawnError });
    });
  });
}
