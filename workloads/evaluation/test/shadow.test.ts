import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import type { Row } from '../../core/warehouse/tables';
import { compareShadow } from '../shadow';

/** Shadow accuracy from the prediction log: only requests both models predicted, with a known label. */
it('compares challenger and champion accuracy on the same requests', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cv-shadow-'));
  const w = await DuckDbWarehouse.open(path.join(dir, 'w.duckdb'));
  try {
    const row = (i: number, role: 'champion' | 'challenger', version: string, correct: boolean | null): Row<'prediction_events'> => ({
      ts: new Date(Date.UTC(2026, 10, 23, 12, 0, i)),
      request_id: `req-${i}`,
      prediction_id: `p-${i}-${role}`,
      source: 'dogapi',
      image_uri: `file:///x/${i}.jpg`,
      true_label: correct === null ? null : 'pug',
      predicted_label: 'pug',
      correct,
      confidence: 0.9,
      latency_ms: 10,
      model_version: version,
      role,
      top_k: '[]',
    });
    const rows: Row<'prediction_events'>[] = [];
    for (let i = 0; i < 10; i++) {
      rows.push(row(i, 'champion', 'champ', i < 6)); // 6/10
      rows.push(row(i, 'challenger', 'chal', i < 8)); // 8/10
    }
    rows.push(row(50, 'champion', 'champ', true)); // no challenger twin: ignored
    rows.push(row(51, 'challenger', 'other', false)); // another challenger: ignored
    rows.push(row(52, 'champion', 'champ', null), row(52, 'challenger', 'chal', null)); // unlabelled: ignored
    await w.insert('prediction_events', rows);
    const s = await compareShadow(w, 'chal', 'champ');
    expect(s.pairs).toBe(10);
    expect(s.challengerAccuracy).toBeCloseTo(0.8);
    expect(s.championAccuracy).toBeCloseTo(0.6);
    expect(await compareShadow(w, 'nobody', 'champ')).toEqual({ pairs: 0, challengerAccuracy: null, championAccuracy: null });
  } finally {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
