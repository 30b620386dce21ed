import Fastify, { FastifyInstance } from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalObjectStore } from '../../core/storage/local-object-store';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import { dashboardPlugin, listModelVersions } from '../dashboard';
import { DEMO_VERSIONS, populateDemoModels, populateDemoWarehouse } from '../demo-data';
import { PANELS } from '../panels';
import { RequestLog } from '../request-log';

/** The dashboard's HTTP surface, over the demo history (no browser). */

let app: FastifyInstance;
let base: string;
let w: DuckDbWarehouse;
let dir: string;
const requestLog = new RequestLog();

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'cv-dash-'));
  w = await DuckDbWarehouse.open(':memory:');
  // Anchored two hours back: ingestion is then silent for certain, whatever the minute of the hour.
  await populateDemoWarehouse(w, new Date(Date.now() - 2 * 3_600_000));
  const models = new LocalObjectStore(dir);
  await populateDemoModels(models);
  app = Fastify();
  for (let i = 0; i < 30; i++) requestLog.record(Date.now(), i < 3 ? 500 : 200);
  await app.register(dashboardPlugin, { prefix: '/dashboard', warehouse: w, models, requestLog, refreshSeconds: 2 });
  // Real HTTP: fastify's inject needs an ESM-only dependency jest cannot load here.
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});

interface Res {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  rawPayload: Buffer;
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}
async function get(url: string): Promise<Res> {
  const res = await fetch(base + url);
  const raw = Buffer.from(await res.arrayBuffer());
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  return {
    statusCode: res.status,
    headers,
    body: raw.toString('utf8'),
    rawPayload: raw,
    json: () => JSON.parse(raw.toString('utf8')),
  };
}
afterAll(async () => {
  await app.close();
  await w.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('dashboard routes', () => {
  it('serves the page, its script and ECharts from node_modules', async () => {
    const page = await get('/dashboard');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.body).toContain('<script src="/dashboard/vendor/echarts.min.js"></script>');
    expect(page.body).not.toMatch(/https?:\/\//); // nothing from the internet
    const js = await get('/dashboard/static/dashboard.js');
    expect(js.statusCode).toBe(200);
    const echarts = await get('/dashboard/vendor/echarts.min.js');
    expect(echarts.statusCode).toBe(200);
    expect(echarts.body.length).toBeGreaterThan(500_000);
    expect((await get('/dashboard/static/secret.ts')).statusCode).toBe(404);
  });

  it('describes the panels', async () => {
    const cfg = (await get('/dashboard/api/config')).json();
    expect(cfg.refreshSeconds).toBe(2);
    expect(cfg.panels.map((p: { id: string }) => p.id)).toEqual(PANELS.map((p) => p.id));
  });

  it('answers each panel with its rows over the requested range', async () => {
    const since = new Date(Date.now() - 6 * 3600_000).toISOString();
    for (const p of PANELS) {
      const res = await get(`/dashboard/api/panels/${p.id}?since=${encodeURIComponent(since)}`);
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.id).toBe(p.id);
      expect(body.rows.length).toBeGreaterThan(0);
    }
    const late = (await get(`/dashboard/api/panels/latency?since=${encodeURIComponent(new Date().toISOString())}`)).json();
    expect(late.rows).toEqual([]);
  });

  it('rejects a bad range or panel with a clear message', async () => {
    const bad = await get('/dashboard/api/panels/latency?since=yesterday');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/since="yesterday" is not a time: expected an ISO-8601 timestamp/);
    const unknown = await get('/dashboard/api/panels/nope');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().message).toMatch(/unknown panel "nope"; panels are/);
  });

  it('evaluates the alerts, with the request log for the error rate', async () => {
    const body = (await get('/dashboard/api/alerts')).json();
    const state = Object.fromEntries(body.alerts.map((a: { id: string; state: string }) => [a.id, a.state]));
    expect(state).toMatchObject({ pipeline_failed: 'firing', error_rate_high: 'firing', ingestion_stalled: 'firing' });
  });

  it('lists model versions newest first with links to their plots, and serves them', async () => {
    const { versions } = (await get('/dashboard/api/models')).json();
    expect(versions.map((v: { version: string }) => v.version)).toEqual([DEMO_VERSIONS.vC, DEMO_VERSIONS.vB, DEMO_VERSIONS.vA]);
    const vB = versions[1];
    expect(vB.roles).toEqual(['production']);
    expect(vB.complete).toBe(true);
    expect(Object.keys(vB.links).sort()).toEqual(['confusion-matrix.png', 'metrics.json', 'training-curves.png']);
    expect(Object.keys(versions[0].links)).toEqual(['metrics.json']);
    const png = await get(vB.links['training-curves.png']);
    expect(png.statusCode).toBe(200);
    expect(png.headers['content-type']).toBe('image/png');
    expect(png.rawPayload.subarray(1, 4).toString()).toBe('PNG');
  });

  it('serves only known model files of valid versions', async () => {
    expect((await get(`/dashboard/models/${DEMO_VERSIONS.vB}/labels.json`)).statusCode).toBe(404);
    expect((await get(`/dashboard/models/${DEMO_VERSIONS.vC}/training-curves.png`)).json().message).toBe(
      `model version ${DEMO_VERSIONS.vC} has no training-curves.png`,
    );
    const traversal = await get('/dashboard/models/..%2F..%2Fetc/training-curves.png');
    expect(traversal.statusCode).toBe(400);
    expect(traversal.json().message).toMatch(/invalid model version/);
  });

  it('lists nothing for an empty models store', async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'cv-dash-empty-'));
    try {
      expect(await listModelVersions(new LocalObjectStore(empty))).toEqual([]);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
