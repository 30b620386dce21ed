import { workloadConfigSchema } from '../core/config/schema';
import type { DatasetManifest } from '../core/dataset/manifest';
import { listDatasetVersions } from '../core/dataset/read-dataset';
import { datasetKeys, modelKeys } from '../core/layout';
import type { DataLake } from '../core/storage/data-lake';
import { readJson } from '../core/storage/object-store';
import type { Warehouse } from '../core/warehouse/warehouse';
import { reconcileModelEvents } from '../evaluation/model-events';
import { type IntakeSettings, readIntake } from '../preprocessing/intake';
import type { TriggerInputs, TriggerThresholds } from './decide';

/**
 * Gathers the trigger's inputs from where the truth lives:
 *  - the newest dataset version: the committed manifests in the datasets bucket;
 *  - new trusted photos: what preprocessing would take in (label objects, reviews, trust
 *    policies, near-duplicates, new breeds waiting to be big enough: preprocessing/intake.ts);
 *  - the champion: the registry's production pointer;
 *  - its baseline: test top-1 of its promotion event in `model_events`;
 *  - recent accuracy: champion predictions with a known truth in `prediction_events`.
 */
export type TriggerLake = Pick<DataLake, 'raw' | 'datasets' | 'models'>;

const defaultIntake = (): IntakeSettings => {
  const c = workloadConfigSchema.parse({});
  return { preprocessing: c.preprocessing, trust: c.trust, images: c.images };
};

export async function lastDatasetVersion(lake: TriggerLake): Promise<{ version: string; createdAt: string } | null> {
  // Committed versions only: a manifest whose claim names another run's version is not one.
  const versions = await listDatasetVersions(lake.datasets);
  for (const version of versions.reverse()) {
    const manifest = await readJson<Pick<DatasetManifest, 'version' | 'createdAt'>>(lake.datasets, datasetKeys.manifest(version));
    if (manifest && !Number.isNaN(Date.parse(manifest.createdAt))) return { version, createdAt: manifest.createdAt };
  }
  return null;
}

export async function championVersion(lake: TriggerLake): Promise<string | null> {
  const pointer = await readJson<{ version?: unknown }>(lake.models, modelKeys.pointer('production'));
  return typeof pointer?.version === 'string' && pointer.version ? pointer.version : null;
}

/** The champion's held-out top-1 when it was promoted (`challenger_metrics.top1` of its latest promotion). */
export async function baselineAccuracy(warehouse: Warehouse, champion: string): Promise<number | null> {
  const rows = await warehouse.query(
    `SELECT challenger_metrics FROM {{model_events}} WHERE event = 'promotion' AND model_version = @champion ORDER BY ts DESC LIMIT 1`,
    { champion },
  );
  const raw = rows[0]?.challenger_metrics;
  if (typeof raw !== 'string') return null;
  try {
    const top1 = (JSON.parse(raw) as { top1?: unknown }).top1;
    return typeof top1 === 'number' && Number.isFinite(top1) ? top1 : null;
  } catch {
    return null;
  }
}

export async function recentChampionAccuracy(
  warehouse: Warehouse,
  champion: string,
  since: Date,
): Promise<{ predictions: number; accuracy: number | null }> {
  const rows = await warehouse.query(
    `SELECT COUNT(*) AS n, SUM(CASE WHEN correct THEN 1 ELSE 0 END) AS hits
     FROM {{prediction_events}}
     WHERE role = 'champion' AND model_version = @champion AND correct IS NOT NULL AND ts >= CAST(@since AS TIMESTAMP)`,
    { champion, since: since.toISOString() },
  );
  const n = Number(rows[0]?.n ?? 0);
  const hits = Number(rows[0]?.hits ?? 0);
  return { predictions: n, accuracy: n > 0 ? hits / n : null };
}

export async function gatherInputs(args: {
  lake: TriggerLake;
  warehouse: Warehouse;
  thresholds: TriggerThresholds;
  /** What counts as new trusted data: preprocessing's own rules (default: the configured defaults). */
  intake?: IntakeSettings;
  force?: boolean;
  now?: Date;
}): Promise<TriggerInputs> {
  const now = args.now ?? new Date();
  const [lastDataset, champion] = await Promise.all([lastDatasetVersion(args.lake), championVersion(args.lake)]);
  const intake = await readIntake(args.lake, args.intake ?? defaultIntake());
  const knownLabels = new Set(intake.lineage.labels);
  const newClasses = intake.lineage.parent ? [...new Set(intake.fresh.map((f) => f.label).filter((l) => !knownLabels.has(l)))].sort() : [];
  let baseline: number | null = null;
  let recent = { predictions: 0, accuracy: null as number | null };
  if (champion) {
    // A promotion whose row a crash left out would leave drift detection without a baseline.
    await reconcileModelEvents(args.lake.models, args.warehouse);
    const since = new Date(now.getTime() - args.thresholds.driftWindowMinutes * 60_000);
    [baseline, recent] = await Promise.all([
      baselineAccuracy(args.warehouse, champion),
      recentChampionAccuracy(args.warehouse, champion, since),
    ]);
  }
  return {
    now: now.toISOString(),
    lastDataset,
    hoursSinceLast: lastDataset ? (now.getTime() - Date.parse(lastDataset.createdAt)) / 3_600_000 : null,
    newLabelled: intake.fresh.length,
    newClasses,
    pending: intake.pending,
    deferred: intake.deferred,
    champion,
    baselineAccuracy: baseline,
    recentPredictions: recent.predictions,
    recentAccuracy: recent.accuracy,
    force: args.force ?? false,
  };
}
