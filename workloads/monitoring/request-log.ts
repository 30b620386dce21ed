import { createInterface } from 'node:readline';
import { LOG_FIELDS } from './log-fields';

/**
 * Local stand-in for the error-rate log-based metrics: reads the inference service's pino
 * lines (the same `request completed` lines Cloud Logging counts in the cloud) and keeps
 * the recent responses in memory. The local supervisor feeds it the child's stdout; the
 * dashboard's alert evaluation asks it for the error rate over a window.
 */
export interface RequestCounts {
  requests: number;
  errors: number;
}

export class RequestLog {
  /** [epoch ms, status code], oldest first. */
  private readonly entries: Array<[number, number]> = [];

  constructor(
    /** Entries older than this are dropped (the longest alert window). */
    private readonly retainMs: number = 24 * 60 * 60 * 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Feeds one log line (text or parsed). Lines that are not request completions are ignored. */
  observe(line: string | Record<string, unknown>): void {
    let rec: Record<string, unknown>;
    if (typeof line === 'string') {
      const text = line.trim();
      if (!text.startsWith('{')) return;
      try {
        rec = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return; // not a JSON log line (e.g. a stack trace printed by a dependency)
      }
    } else rec = line;
    if (rec.msg !== LOG_FIELDS.request.msg) return;
    const status = (rec.res as { statusCode?: unknown } | undefined)?.statusCode;
    if (typeof status !== 'number') return;
    const t = typeof rec.time === 'number' ? rec.time : this.now();
    this.record(t, status);
  }

  /** Observes every line of a stream, e.g. a child process's stdout: `requestLog.follow(child.stdout)`. */
  follow(stream: NodeJS.ReadableStream): void {
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => this.observe(line));
  }

  /** Records one finished request directly (for in-process use, e.g. a fastify onResponse hook). */
  record(atMs: number, statusCode: number): void {
    this.entries.push([atMs, statusCode]);
    // Log lines arrive in order per process; keep the array sorted if they do not.
    for (let i = this.entries.length - 1; i > 0 && this.entries[i - 1][0] > this.entries[i][0]; i--) {
      [this.entries[i - 1], this.entries[i]] = [this.entries[i], this.entries[i - 1]];
    }
    this.prune();
  }

  /** Requests and 5xx responses in the last `windowMinutes`. */
  counts(windowMinutes: number): RequestCounts {
    this.prune();
    const from = this.now() - windowMinutes * 60_000;
    let requests = 0;
    let errors = 0;
    for (let i = this.entries.length - 1; i >= 0 && this.entries[i][0] >= from; i--) {
      requests++;
      if (this.entries[i][1] >= 500) errors++;
    }
    return { requests, errors };
  }

  private prune(): void {
    const cutoff = this.now() - this.retainMs;
    let n = 0;
    while (n < this.entries.length && this.entries[n][0] < cutoff) n++;
    if (n > 0) this.entries.splice(0, n);
  }
}
