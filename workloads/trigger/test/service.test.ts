import type { FastifyInstance } from 'fastify';
import { ContainerComponent, PipelineBuilder } from '../../../pipeline-specs/builder';
import { KFP_SDK_VERSION, placeholder, PipelineSpec } from '../../../pipeline-specs/ir';
import { fromImage, REPO_ROOT } from '../../../pipeline-specs/runner';
import type { DataLake } from '../../core/storage/data-lake';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import type { TriggerThresholds } from '../decide';
import { LocalSubmitter } from '../local-submitter';
import { buildTriggerServer } from '../server';
import { TriggerService } from '../service';
import type { PipelineSubmitter } from '../submitter';
import { addLabels, smallIntake, tempLake } from './helpers';

/** A pipeline with the real one's parameters (run_id, force) whose one step sleeps a little. */
function slowSpec(): PipelineSpec {
  const p = new PipelineBuilder({ name: 'slow', sdkVersion: KFP_SDK_VERSION });
  const runId = p.parameter('run_id', 'STRING');
  const force = p.parameter('force', 'BOOLEAN', { default: false });
  const work: ContainerComponent<'input' | 'force', 'value'> = {
    name: 'work',
    inputs: { input: 'STRING', force: 'BOOLEAN' },
    outputs: { value: 'STRING' },
    container: {
      image: 'fixture',
      command: ['node', 'pipeline-specs/test/fixtures/step.js'],
      args: [
        '--name',
        'work',
        '--sleep-ms',
        '800',
        '--input',
        placeholder.input('input'),
        '--force',
        placeholder.input('force'),
        '--out-value',
        placeholder.outputFile('value'),
      ],
    },
  };
  p.task(work, { input: runId, force });
  return p.compile();
}

/**
 * Requests over a real socket (fastify's inject pulls an ESM-only dependency jest cannot load).
 */
interface Reply {
  statusCode: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json(): any;
}
const apps: FastifyInstance[] = [];
async function serve(
  app: FastifyInstance,
): Promise<(req: { method: string; url: string; payload?: unknown; headers?: Record<string, string> }) => Promise<Reply>> {
  apps.push(app);
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return async ({ method, url, payload, headers }) => {
    const body = payload === undefined ? undefined : typeof payload === 'string' ? payload : JSON.stringify(payload);
    const res = await fetch(address + url, {
      method,
      body,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    });
    const text = await res.text();
    return { statusCode: res.status, json: () => JSON.parse(text) };
  };
}

const thresholds: TriggerThresholds = {
  minNewLabelled: 5,
  driftMargin: 0.1,
  driftMinPredictions: 30,
  driftWindowMinutes: 60,
  maxIntervalHours: 48,
};

describe('trigger service and HTTP server', () => {
  let lake: DataLake;
  let cleanup: () => Promise<void>;
  let warehouse: DuckDbWarehouse;
  beforeEach(async () => {
    ({ lake, cleanup } = await tempLake());
    warehouse = await DuckDbWarehouse.open(':memory:');
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await warehouse.close();
    await cleanup();
  });

  it('POST /check: waits, then starts one local run, and does not start a second while it runs', async () => {
    const submitter = new LocalSubmitter(async () => slowSpec(), { store: lake.pipeline, warehouse, launch: fromImage(REPO_ROOT) });
    let n = 0;
    const service = new TriggerService({ lake, warehouse, thresholds, intake: smallIntake(), submitter, newRunId: () => `run-t${++n}` });
    const app = buildTriggerServer(service);
    const inject = await serve(app);

    const idle = await inject({ method: 'POST', url: '/check', payload: {} });
    expect(idle.statusCode).toBe(200);
    expect(idle.json()).toMatchObject({ fired: false, condition: 'none' });
    expect(idle.json().reason).toContain('waiting for data');

    await addLabels(lake, 5, new Date(Date.now() - 60_000));
    // As Cloud Scheduler sends it by default: a JSON body typed application/octet-stream.
    const fired = await inject({ method: 'POST', url: '/check', headers: { 'content-type': 'application/octet-stream' }, payload: '{}' });
    expect(fired.json()).toMatchObject({ fired: true, condition: 'first_run', runId: 'run-t2', submission: { backend: 'local' } });
    const busy = await inject({ method: 'POST', url: '/check', payload: { force: true } });
    expect(busy.json()).toMatchObject({ fired: false });
    expect(busy.json().reason).toMatch(/^run run-t2 is still in progress/);

    const result = await submitter.current!;
    expect(result).toMatchObject({ runId: 'run-t2', status: 'succeeded', parameters: { run_id: 'run-t2', force: false } });
    expect(result.steps[0].outputs).toEqual({ value: 'work(run-t2)' });
    expect(await submitter.activeRun()).toBeUndefined();

    const rows = await warehouse.query('SELECT fired, pipeline_run_id FROM {{trigger_decisions}} ORDER BY ts');
    expect(rows).toEqual([
      { fired: false, pipeline_run_id: null },
      { fired: true, pipeline_run_id: 'run-t2' },
      { fired: false, pipeline_run_id: null },
    ]);
    expect((await warehouse.query(`SELECT status FROM {{pipeline_runs}} WHERE run_id = 'run-t2' AND step = '(run)'`))[0].status).toBe(
      'succeeded',
    );
  });

  it('answers 502 and logs the failed submission when the run cannot be started', async () => {
    const failing: PipelineSubmitter = {
      backend: 'vertex',
      activeRun: async () => undefined,
      submit: async () => {
        throw new Error('Vertex AI POST failed: HTTP 403');
      },
    };
    const service = new TriggerService({ lake, warehouse, thresholds, intake: smallIntake(), submitter: failing, newRunId: () => 'run-f' });
    const app = buildTriggerServer(service);
    const inject = await serve(app);
    const res = await inject({ method: 'POST', url: '/check', payload: { force: true } });
    expect(res.statusCode).toBe(502);
    expect(res.json()).toMatchObject({ fired: false, condition: 'forced', runId: 'run-f', error: 'Vertex AI POST failed: HTTP 403' });
    const rows = await warehouse.query('SELECT fired, reason, pipeline_run_id FROM {{trigger_decisions}} ORDER BY fired DESC');
    expect(rows).toEqual([
      expect.objectContaining({ fired: true, pipeline_run_id: 'run-f' }),
      expect.objectContaining({
        fired: false,
        pipeline_run_id: 'run-f',
        reason: 'submission of run run-f failed: Vertex AI POST failed: HTTP 403',
      }),
    ]);
  });

  it('rejects malformed bodies and serves health', async () => {
    const service = new TriggerService({
      lake,
      warehouse,
      thresholds,
      intake: smallIntake(),
      submitter: new LocalSubmitter(async () => slowSpec()),
    });
    const app = buildTriggerServer(service);
    const inject = await serve(app);
    expect((await inject({ method: 'POST', url: '/check', payload: { force: 'yes' } })).statusCode).toBe(400);
    expect((await inject({ method: 'POST', url: '/check', payload: { other: 1 } })).statusCode).toBe(400);
    expect(
      (await inject({ method: 'POST', url: '/check', headers: { 'content-type': 'application/json' }, payload: '{not json' })).statusCode,
    ).toBe(400);
    expect(
      (await inject({ method: 'POST', url: '/check', headers: { 'content-type': 'application/octet-stream' }, payload: 'nope' }))
        .statusCode,
    ).toBe(400);
    expect((await inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ ok: true });
    expect(await warehouse.query('SELECT * FROM {{trigger_decisions}}')).toEqual([]);
  });
});
