import { Cron } from 'croner';

/**
 * Local stand-in for the Cloud Scheduler ingestion job: calls the inference service's
 * `GET /predict` on the same cron expression (croner also accepts a seconds field, which
 * the local defaults use so a laptop sees the loop move within minutes).
 */
export interface IngestStats {
  calls: number;
  ingested: number;
  predicted: number;
  correct: number;
  failures: number;
  lastError?: string;
}

export class Ingestor {
  readonly stats: IngestStats = { calls: 0, ingested: 0, predicted: 0, correct: 0, failures: 0 };
  private job: Cron | undefined;
  private inFlight = new Set<Promise<void>>();

  /** `headers()` authenticates each call as the scheduler (GET /predict is an internal route). */
  constructor(
    private readonly predictUrl: string,
    private readonly headers: () => Record<string, string>,
  ) {}

  /** Starts calling /predict `perTick` times on each cron tick; ticks never overlap. */
  start(cron: string, perTick: number): void {
    this.job = new Cron(cron, { protect: true, catch: true }, async () => {
      await this.burst(perTick, perTick);
    });
  }

  /** `count` calls with at most `concurrency` in flight. */
  async burst(count: number, concurrency: number): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        next++;
        await this.callOnce();
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  }

  private async callOnce(): Promise<void> {
    const p = (async () => {
      this.stats.calls++;
      try {
        const res = await fetch(this.predictUrl, { headers: this.headers(), signal: AbortSignal.timeout(30_000) });
        const body = (await res.json()) as { stored?: unknown; prediction?: { correct?: boolean | null } | null; message?: string };
        if (!res.ok) throw new Error(`${res.status} ${body.message ?? ''}`.trim());
        this.stats.ingested++;
        if (body.prediction) {
          this.stats.predicted++;
          if (body.prediction.correct) this.stats.correct++;
        }
      } catch (err) {
        this.stats.failures++;
        this.stats.lastError = (err as Error).message;
      }
    })();
    this.inFlight.add(p);
    await p;
    this.inFlight.delete(p);
  }

  /** Stops the schedule and waits for calls in flight. */
  async stop(): Promise<void> {
    this.job?.stop();
    await Promise.all([...this.inFlight]);
  }
}
