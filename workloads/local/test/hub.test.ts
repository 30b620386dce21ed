import * as http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../core/config/load';
import { LocalIdTokenIssuer } from '../../core/gcp/local-id-tokens';
import { LocalObjectStore } from '../../core/storage/local-object-store';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import { HttpWarehouse } from '../../core/warehouse/http-warehouse';
import { compareShadow } from '../../evaluation/shadow';
import { evaluateAlerts } from '../../monitoring/alerts';
import { dashboardPlugin } from '../../monitoring/dashboard';
import { DEMO_VERSIONS, populateDemoModels, populateDemoWarehouse } from '../../monitoring/demo-data';
import { PANELS, runPanel } from '../../monitoring/panels';
import { baselineAccuracy, recentChampionAccuracy } from '../../trigger/signals';
import { Hub, startHub } from '../hub';
import { hubQueries } from '../hub-queries';

/**
 * The `npm start` hub (issue 14, item 4): it answers only requests addressed to itself,
 * serves its warehouse only with this run's token and only the named queries, and the
 * queries the dashboard and the pipeline steps send are all among them.
 */
describe('the local hub', () => {
  const token = 'hub-test-token-0123456789abcdef';
  const config = loadConfig({ env: {} });
  let warehouse: DuckDbWarehouse;
  let hub: Hub;
  let dir: string;
  let client: HttpWarehouse;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cv-hub-'));
    warehouse = await DuckDbWarehouse.open(':memory:');
    await populateDemoWarehouse(warehouse, new Date(Date.now() - 2 * 3_600_000));
    const models = new LocalObjectStore(dir);
    await populateDemoModels(models);
    hub = await startHub({
      warehouse,
      token,
      queries: hubQueries(config),
      scheduler: new LocalIdTokenIssuer(),
      port: 0,
      mount: async (app) => void (await app.register(dashboardPlugin, { prefix: '/dashboard', warehouse, models })),
    });
    client = new HttpWarehouse(hub.url, token);
  });
  afterAll(async () => {
    await hub?.close();
    await warehouse?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A request with any Host header (fetch will not let one set it). */
  const withHost = (host: string, route: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const { port } = new URL(hub.url);
      http
        .get({ host: '127.0.0.1', port, path: route, headers: { host, authorization: `Bearer ${token}` } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });

  test('a request for another host name (DNS rebinding) is refused with 421; its own names are served', async () => {
    const { port } = new URL(hub.url);
    for (const route of ['/dashboard', '/dashboard/api/config', '/scheduler/certs']) {
      expect(await withHost(`evil.example:${port}`, route)).toBe(421);
      expect(await withHost('127.0.0.1', route)).toBe(421);
      expect(await withHost(`127.0.0.1:${port}`, route)).toBe(200);
      expect(await withHost(`localhost:${port}`, route)).toBe(200);
    }
  });

  test('every dashboard panel and alert runs through the hub as a named query', async () => {
    const since = new Date(Date.now() - 30 * 24 * 3_600_000);
    for (const p of PANELS) await expect(runPanel(client, p, since, 'duckdb')).resolves.toBeInstanceOf(Array);
    const alerts = await evaluateAlerts(client, { thresholds: config.monitoring.alerts });
    expect(alerts.filter((a) => /evaluation failed/.test(a.message)).map((a) => a.message)).toEqual([]);
  });

  test("the pipeline steps' queries run through the hub as named queries", async () => {
    await expect(baselineAccuracy(client, DEMO_VERSIONS.vB)).resolves.toBeDefined();
    await expect(recentChampionAccuracy(client, DEMO_VERSIONS.vB, new Date(0))).resolves.toMatchObject({ predictions: expect.any(Number) });
    await expect(compareShadow(client, DEMO_VERSIONS.vC, DEMO_VERSIONS.vB)).resolves.toMatchObject({ pairs: expect.any(Number) });
  });

  test('anything else is refused, with or without the token', async () => {
    await expect(client.query("SELECT content FROM read_text('/etc/passwd')")).rejects.toThrow(/answered 403: not a named query/);
    await expect(new HttpWarehouse(hub.url).query(hubQueries(config)['panel:overview'])).rejects.toThrow(/answered 401/);
  });
});
