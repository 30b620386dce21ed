import * as path from 'node:path';
import { baseSpec } from '../../core/model/backbones';
import { markComplete, saveModelVersionCore } from '../../core/model/model-version';
import { readHistory, readPointer } from '../../core/model/registry';
import { selectBackend, tf } from '../../core/tf/backend';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import { tempRoot, TempRoot } from '../../training/test/fixtures';
import { createLogger } from '../../core/log';
import { reconcileModelEvents } from '../model-events';
import { NotApprovedError, promote, rollback } from '../promote';
import { EvaluationRecord, writeEvaluation } from '../records';

/**
 * Promotion and rollback on the registry: only recorded "promote" decisions move the
 * pointer, concurrent promotions have exactly one winner, history is kept, rollback works,
 * and every move is a model_events row.
 */
let root: TempRoot;
let warehouse: DuckDbWarehouse;

async function version(name: string): Promise<string> {
  const input = tf.input({ shape: [4] });
  const out = tf.layers.dense({ units: 2, activation: 'softmax', name: 'logits' }).apply(input) as tf.SymbolicTensor;
  const head = tf.model({ inputs: input, outputs: out });
  await saveModelVersionCore(
    root.lake.models,
    {
      version: name,
      createdAt: new Date().toISOString(),
      labels: ['a', 'b'],
      backbone: { ...baseSpec('mobilenet_v2_035'), outputShape: [4] },
      datasetVersion: 'd1',
      parentVersion: null,
      trainingRunId: 'r',
    },
    head,
  );
  await markComplete(root.lake.models, name);
  head.dispose();
  return name;
}

async function evaluation(v: string, runId: string, decision: 'promote' | 'reject', champion: string | null): Promise<void> {
  const record: EvaluationRecord = {
    runId,
    evaluatedAt: new Date().toISOString(),
    datasetVersion: 'd1',
    challenger: { version: v, metrics: { top1: 0.9 } },
    champion: champion ? { version: champion, metrics: { top1: 0.8 } } : null,
    shadow: null,
    decision,
    reason: `${decision}: because the test says so`,
    checks: [],
    gate: {},
  };
  await writeEvaluation(root.lake.models, record);
}

beforeAll(async () => {
  await selectBackend(() => undefined);
});
beforeEach(async () => {
  root = tempRoot();
  warehouse = await DuckDbWarehouse.open(path.join(root.dir, 'w.duckdb'));
});
afterEach(async () => {
  await warehouse.close();
  root.cleanup();
});

const base = () => ({ config: root.config, lake: root.lake, warehouse, log: createLogger('test', 'silent') });

describe('promote', () => {
  it('promotes only on a recorded promote decision, and records the event with both metrics', async () => {
    const v1 = await version('v1');
    await expect(promote({ ...base(), runId: 'r1', modelVersion: v1 })).rejects.toBeInstanceOf(NotApprovedError);
    await evaluation(v1, 'r1', 'reject', null);
    const refused = await promote({ ...base(), runId: 'r1', modelVersion: v1 });
    expect(refused).toMatchObject({ promoted: false, productionVersion: null });
    expect(refused.reason).toMatch(/evaluation decided reject/);

    await evaluation(v1, 'r2', 'promote', null);
    const ok = await promote({ ...base(), runId: 'r2', modelVersion: v1 });
    expect(ok).toMatchObject({ promoted: true, productionVersion: 'v1' });
    expect((await readPointer(root.lake.models, 'production')).pointer).toMatchObject({
      version: 'v1',
      event: 'promotion',
      previousVersion: null,
    });
    const rows = await warehouse.query(`SELECT event, model_version, reason, challenger_metrics FROM {{model_events}}`);
    expect(rows).toEqual([
      {
        event: 'promotion',
        model_version: 'v1',
        reason: 'promote: because the test says so',
        challenger_metrics: JSON.stringify({ top1: 0.9 }),
      },
    ]);
  });

  it('refuses a promotion decided against a champion that is no longer production', async () => {
    const [v1, v2, v3] = [await version('v1'), await version('v2'), await version('v3')];
    await evaluation(v1, 'r1', 'promote', null);
    await promote({ ...base(), runId: 'r1', modelVersion: v1 });
    await evaluation(v2, 'r2', 'promote', v1);
    await evaluation(v3, 'r3', 'promote', v1);
    expect((await promote({ ...base(), runId: 'r2', modelVersion: v2 })).promoted).toBe(true);
    const stale = await promote({ ...base(), runId: 'r3', modelVersion: v3 });
    expect(stale.promoted).toBe(false);
    expect(stale.reason).toMatch(/compared against v1 but production is now v2; evaluate again/);
  });

  it('of two concurrent promotions exactly one wins; history keeps every move', async () => {
    const [v1, v2, v3] = [await version('v1'), await version('v2'), await version('v3')];
    await evaluation(v1, 'r1', 'promote', null);
    await promote({ ...base(), runId: 'r1', modelVersion: v1 });
    await evaluation(v2, 'r2', 'promote', v1);
    await evaluation(v3, 'r3', 'promote', v1);
    const results = await Promise.all([
      promote({ ...base(), runId: 'r2', modelVersion: v2 }),
      promote({ ...base(), runId: 'r3', modelVersion: v3 }),
    ]);
    expect(results.filter((r) => r.promoted)).toHaveLength(1);
    const winner = results.find((r) => r.promoted)!.productionVersion;
    const loser = results.find((r) => !r.promoted)!;
    expect(loser.productionVersion).toBe(winner);
    expect(loser.reason).toMatch(/another promotion moved production|production is now/);
    expect((await readPointer(root.lake.models, 'production')).pointer!.version).toBe(winner);
    const history = await readHistory(root.lake.models);
    expect(history.map((h) => h.version)).toEqual(['v1', winner]);
    expect(await warehouse.query(`SELECT COUNT(*) AS n FROM {{model_events}} WHERE event = 'promotion'`)).toEqual([{ n: 2 }]);
  });
});

/** A warehouse whose model_events inserts fail while `down` is set (a crash right after the pointer moved). */
function flaky(inner: DuckDbWarehouse): DuckDbWarehouse & { down: boolean } {
  const w = Object.create(inner) as DuckDbWarehouse & { down: boolean };
  w.down = true;
  w.insert = (async (table: string, rows: never[]) => {
    if (w.down && table === 'model_events') throw new Error('simulated crash before the event was written');
    return inner.insert(table as never, rows);
  }) as DuckDbWarehouse['insert'];
  return w;
}

describe('the promotion event (issue 14)', () => {
  it('a retried promote writes the event a crash after the pointer move left out, exactly once', async () => {
    const v1 = await version('v1');
    await evaluation(v1, 'r1', 'promote', null);
    const w = flaky(warehouse);
    await expect(promote({ ...base(), warehouse: w, runId: 'r1', modelVersion: v1 })).rejects.toThrow(/simulated crash/);
    expect((await readPointer(root.lake.models, 'production')).pointer?.version).toBe('v1');
    w.down = false;
    const retried = await promote({ ...base(), warehouse: w, runId: 'r1', modelVersion: v1 });
    expect(retried).toMatchObject({ promoted: false, productionVersion: 'v1' });
    await promote({ ...base(), runId: 'r1', modelVersion: v1 });
    const rows = await warehouse.query(`SELECT event, model_version, event_id, challenger_metrics, run_id FROM {{model_events}}`);
    expect(rows).toEqual([
      {
        event: 'promotion',
        model_version: 'v1',
        event_id: 'promotion-v1-r1',
        challenger_metrics: JSON.stringify({ top1: 0.9 }),
        run_id: 'r1',
      },
    ]);
  });

  it('reconcileModelEvents fills every registry move that has no event, and is idempotent', async () => {
    const [v1, v2] = [await version('v1'), await version('v2')];
    const w = flaky(warehouse);
    await evaluation(v1, 'r1', 'promote', null);
    await expect(promote({ ...base(), warehouse: w, runId: 'r1', modelVersion: v1 })).rejects.toThrow(/simulated crash/);
    await evaluation(v2, 'r2', 'promote', v1);
    await expect(promote({ ...base(), warehouse: w, runId: 'r2', modelVersion: v2 })).rejects.toThrow(/simulated crash/);
    await expect(rollback({ ...base(), warehouse: w })).rejects.toThrow(/simulated crash/);
    expect(await reconcileModelEvents(root.lake.models, warehouse)).toBe(3);
    expect(await reconcileModelEvents(root.lake.models, warehouse)).toBe(0);
    const rows = await warehouse.query(`SELECT event, model_version, previous_version FROM {{model_events}} ORDER BY ts`);
    expect(rows).toEqual([
      { event: 'promotion', model_version: 'v1', previous_version: null },
      { event: 'promotion', model_version: 'v2', previous_version: 'v1' },
      { event: 'rollback', model_version: 'v1', previous_version: 'v2' },
    ]);
  });
});

describe('rollback', () => {
  it('goes back to the previous production model by default, or to any complete version, and records it', async () => {
    const [v1, v2, v3] = [await version('v1'), await version('v2'), await version('v3')];
    await evaluation(v1, 'r1', 'promote', null);
    await promote({ ...base(), runId: 'r1', modelVersion: v1 });
    await evaluation(v2, 'r2', 'promote', v1);
    await promote({ ...base(), runId: 'r2', modelVersion: v2 });
    await evaluation(v3, 'r3', 'promote', v2);
    await promote({ ...base(), runId: 'r3', modelVersion: v3 });

    const back = await rollback({ ...base() });
    expect(back).toMatchObject({ promoted: true, productionVersion: 'v2' });
    const to1 = await rollback({ ...base(), to: 'v1', reason: 'v2 misbehaves in production' });
    expect(to1.productionVersion).toBe('v1');
    expect((await readPointer(root.lake.models, 'production')).pointer).toMatchObject({
      version: 'v1',
      event: 'rollback',
      previousVersion: 'v2',
    });
    await expect(rollback({ ...base(), to: 'nope' })).rejects.toThrow(
      /cannot roll back to nope: not a complete model version; complete versions: v1, v2, v3/,
    );
    const rows = await warehouse.query(
      `SELECT model_version, previous_version, reason FROM {{model_events}} WHERE event = 'rollback' ORDER BY ts`,
    );
    expect(rows).toEqual([
      { model_version: 'v2', previous_version: 'v3', reason: 'rollback from v3 to v2' },
      { model_version: 'v1', previous_version: 'v2', reason: 'v2 misbehaves in production' },
    ]);
  });

  it('refuses when there is nothing to roll back', async () => {
    await expect(rollback({ ...base() })).rejects.toThrow(/no production model to roll back/);
  });
});
