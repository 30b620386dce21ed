import { readFileSync } from 'node:fs';

/** Process statistics for benchmarks, from Linux's /proc (man 5 proc). */

const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

/**
 * CPU time (user + system, all threads) a process has used so far, in ms. With
 * `children`, adds the CPU of its children that have exited and been waited for (how the
 * local-tasks engine's child processes are counted).
 */
export function cpuMs(pid: number | 'self', options: { children?: boolean } = {}): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  // After the command name: state is field 3, utime 14, stime 15, cutime 16, cstime 17 (1-based).
  const ticks = Number(fields[11]) + Number(fields[12]) + (options.children ? Number(fields[13]) + Number(fields[14]) : 0);
  return (ticks * 1000) / CLOCK_TICKS;
}

/** Resident set of a process (all its threads), in MB; 0 once it has gone. */
export function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

export function quantile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

export const median = (xs: readonly number[]): number => quantile(xs, 0.5);
