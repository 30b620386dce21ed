import type { SamplingWeights, SourceEntry } from '../core/dataset/manifest';
import type { Warehouse } from '../core/warehouse/warehouse';

/**
 * Curation as sampling weights, not exclusion: every trusted example is in every version,
 * and training draws some more often. Hard examples (photos some model got wrong, from
 * the prediction log) weigh `hardExampleWeight`; class balance is the training loss's
 * own class weights (inversely proportional to class frequency), so it needs no entry here.
 */

/** `…/images/<id>.<ext>` → `images/<id>.<ext>`: joins survive different data roots / bucket URIs. */
const imageKeyOfUri = (uri: string): string | undefined => /(?:^|\/)(images\/[^/]+)$/.exec(uri)?.[1];

/**
 * Misclassifications per raw image from the prediction log (`prediction_events`, joined by
 * image URI). Any model's miss counts: a challenger's shadow mistake marks a hard example too.
 */
export async function missesByImage(warehouse: Warehouse): Promise<Map<string, number>> {
  const rows = await warehouse.query(
    'SELECT image_uri, COUNT(*) AS misses FROM {{prediction_events}} WHERE correct = FALSE GROUP BY image_uri',
  );
  const misses = new Map<string, number>();
  for (const r of rows) {
    const key = imageKeyOfUri(String(r.image_uri));
    if (key) misses.set(key, (misses.get(key) ?? 0) + Number(r.misses));
  }
  return misses;
}

/** Training examples some model got wrong weigh `hardExampleWeight`; evaluation and validation photos are never weighted. */
export function samplingWeights(
  sources: readonly SourceEntry[],
  misses: ReadonlyMap<string, number>,
  hardExampleWeight: number,
): SamplingWeights {
  const weights: Record<string, number> = {};
  if (hardExampleWeight > 1) {
    for (const s of sources) {
      if (s.split === 'train' && (misses.get(imageKeyOfUri(s.uri) ?? '') ?? 0) > 0) weights[s.sha256] = hardExampleWeight;
    }
  }
  return { policy: `misclassified training examples weigh ${hardExampleWeight}; class balance: the loss's class weights`, weights };
}
