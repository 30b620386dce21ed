import type { Warehouse } from '../core/warehouse/warehouse';
import type { ShadowComparison } from './gate';

/**
 * Online comparison from the prediction log: requests where the champion answered and the
 * challenger predicted in shadow on the same image, with a known true label (dog API
 * ingestion), so both accuracies are measured on exactly the same requests.
 */
export async function compareShadow(warehouse: Warehouse, challenger: string, champion: string): Promise<ShadowComparison> {
  const rows = await warehouse.query(
    `SELECT COUNT(*) AS pairs,
            AVG(CASE WHEN c.correct THEN 1.0 ELSE 0.0 END) AS challenger_accuracy,
            AVG(CASE WHEN p.correct THEN 1.0 ELSE 0.0 END) AS champion_accuracy
       FROM {{prediction_events}} AS c
       JOIN {{prediction_events}} AS p ON c.request_id = p.request_id
      WHERE c.role = 'challenger' AND p.role = 'champion'
        AND c.model_version = @challenger AND p.model_version = @champion
        AND c.correct IS NOT NULL AND p.correct IS NOT NULL`,
    { challenger, champion },
  );
  const r = rows[0] ?? {};
  const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  return { pairs: Number(r.pairs ?? 0), challengerAccuracy: num(r.challenger_accuracy), championAccuracy: num(r.champion_accuracy) };
}
