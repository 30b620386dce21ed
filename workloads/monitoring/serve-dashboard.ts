import Fastify from 'fastify';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../core/config/load';
import { openDataLake } from '../core/storage/data-lake';
import { LocalObjectStore } from '../core/storage/local-object-store';
import type { ObjectStore } from '../core/storage/object-store';
import { DuckDbWarehouse } from '../core/warehouse/duckdb-warehouse';
import { openWarehouse } from '../core/warehouse/open-warehouse';
import type { Warehouse } from '../core/warehouse/warehouse';
import { dashboardPlugin } from './dashboard';
import { populateDemoModels, populateDemoWarehouse } from './demo-data';

/**
 * Serves the dashboard on its own, for a look at an existing data root:
 *   npx tsx workloads/monitoring/serve-dashboard.ts [--port 8090] [--host 127.0.0.1]
 * reads the usual CV_* configuration (data root, warehouse backend, buckets). While
 * `npm start` owns the DuckDB file, point it at the owner's warehouse instead:
 *   CV_WAREHOUSE_BACKEND=http CV_WAREHOUSE_URL=http://127.0.0.1:<port> npx tsx workloads/monitoring/serve-dashboard.ts
 * `--demo` serves a small, known history in memory instead (no data root needed).
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8090' },
      host: { type: 'string', default: '127.0.0.1' },
      demo: { type: 'boolean', default: false },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${values.port}: expected a port number 0-65535`);
  const config = loadConfig();

  let warehouse: Warehouse;
  let models: ObjectStore;
  if (values.demo) {
    warehouse = await DuckDbWarehouse.open(':memory:');
    await populateDemoWarehouse(warehouse);
    models = new LocalObjectStore(mkdtempSync(path.join(os.tmpdir(), 'cv-demo-models-')));
    await populateDemoModels(models);
  } else {
    warehouse = await openWarehouse(config);
    models = openDataLake(config).models;
  }

  const app = Fastify({ logger: { level: config.logLevel } });
  await app.register(dashboardPlugin, {
    prefix: '/dashboard',
    warehouse,
    models,
    alerts: config.monitoring.alerts,
    refreshSeconds: config.monitoring.refreshSeconds,
  });
  app.get('/', async (_req, reply) => reply.redirect('/dashboard'));
  const close = async (): Promise<void> => {
    await app.close();
    await warehouse.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void close());
  process.once('SIGTERM', () => void close());
  const address = await app.listen({ port, host: values.host });
  process.stdout.write(`dashboard: ${address}/dashboard${values.demo ? ' (demo data)' : ''}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`serve-dashboard: ${err.message}\n`);
  process.exit(1);
});
