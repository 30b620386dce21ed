import type { ObjectStore } from '../core/storage/object-store';
import { readPointer } from '../core/model/registry';
import type { Warehouse } from '../core/warehouse/warehouse';

/** What the one-line status shows, read from the warehouse and the registry. */
export interface LoopStatus {
  images: number;
  predictions: number;
  champion: string | null;
  /** Champion accuracy on the last 200 labelled predictions. */
  championAccuracy: number | null;
  datasetVersions: number;
  lastDecision: string | null;
  pipeline: string | null;
}

export async function readStatus(warehouse: Warehouse, models: ObjectStore): Promise<LoopStatus> {
  const { pointer } = await readPointer(models, 'production');
  const [counts] = await warehouse.query(
    `SELECT COUNT(*) AS images, COUNT(predicted_label) AS predictions FROM {{prediction_events}} WHERE role != 'challenger'`,
  );
  const [datasets] = await warehouse.query(`SELECT COUNT(*) AS n FROM {{dataset_versions}}`);
  let championAccuracy: number | null = null;
  if (pointer) {
    const [acc] = await warehouse.query(
      `SELECT AVG(CASE WHEN correct THEN 1.0 ELSE 0.0 END) AS acc FROM (
         SELECT correct FROM {{prediction_events}}
         WHERE model_version = @v AND role = 'champion' AND correct IS NOT NULL
         ORDER BY ts DESC LIMIT 200) AS recent`,
      { v: pointer.version },
    );
    championAccuracy = acc?.acc === null || acc?.acc === undefined ? null : Number(acc.acc);
  }
  const [decision] = await warehouse.query(
    `SELECT event, model_version, reason FROM {{model_events}} WHERE event != 'registration' ORDER BY ts DESC LIMIT 1`,
  );
  return {
    images: Number(counts?.images ?? 0),
    predictions: Number(counts?.predictions ?? 0),
    champion: pointer?.version ?? null,
    championAccuracy,
    datasetVersions: Number(datasets?.n ?? 0),
    lastDecision: decision ? `${decision.event} ${decision.model_version}` : null,
    pipeline: null,
  };
}

export function formatStatus(s: LoopStatus): string {
  const acc = s.championAccuracy === null ? '—' : `${(s.championAccuracy * 100).toFixed(1)}%`;
  return [
    `images ${s.images}`,
    `champion ${s.champion ?? 'none yet'} (live acc ${acc})`,
    `datasets ${s.datasetVersions}`,
    `last decision: ${s.lastDecision ?? '—'}`,
    s.pipeline ? `pipeline: ${s.pipeline}` : 'pipeline: idle',
  ].join(' | ');
}

/** A status line that rewrites itself on a terminal and prints plain lines otherwise (CI, logs). */
export class StatusLine {
  private last = '';
  private lastPrinted = 0;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly plainEveryMs = 15_000,
  ) {}

  update(line: string): void {
    if (this.out.isTTY) {
      const width = this.out.columns || 120;
      this.out.write(`\r\x1b[2K${line.length > width - 1 ? line.slice(0, width - 2) + '…' : line}`);
    } else if (line !== this.last && Date.now() - this.lastPrinted >= this.plainEveryMs) {
      this.out.write(`${line}\n`);
      this.lastPrinted = Date.now();
    }
    this.last = line;
  }

  /** Prints a message above the status line. */
  log(message: string): void {
    if (this.out.isTTY) this.out.write(`\r\x1b[2K${message}\n${this.last}`);
    else this.out.write(`${message}\n`);
  }

  end(): void {
    if (this.out.isTTY && this.last) this.out.write('\n');
  }
}
