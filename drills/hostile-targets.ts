import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../workloads/core/config/load';
import type { WorkloadConfig } from '../workloads/core/config/schema';
import { LocalIdTokenIssuer } from '../workloads/core/gcp/local-id-tokens';
import { type DataLake, openDataLake } from '../workloads/core/storage/data-lake';
import { HostileDogApi, startHostileDogApi } from '../workloads/core/test/hostile-dog-api';
import { DuckDbWarehouse } from '../workloads/core/warehouse/duckdb-warehouse';
import type { Row, TableName } from '../workloads/core/warehouse/tables';
import type { InsertOptions, Warehouse } from '../workloads/core/warehouse/warehouse';
import { ServiceProcess, startServiceProcess } from '../workloads/inference/test/fixtures/process';
import { tempRoot } from '../workloads/inference/test/fixtures/service';
import { buildTestModel, REPO_ROOT } from '../workloads/inference/test/fixtures/test-model';
import { Hub, startHub } from '../workloads/local/hub';
import { hubQueries } from '../workloads/local/hub-queries';

/**
 * What the hostile drill attacks, all on this machine: the inference service as a real
 * process (main.ts, as Cloud Run runs it: one proxy hop in front, per-client limits on) on
 * a fresh data root with a small trained model; the `npm start` hub owning its DuckDB
 * warehouse (this run's token, named queries), whose inserts the drill can make fail or
 * hang; a hostile Dog API and the "internal" server it points at.
 */

export const SERVICE_LIMITS = { requestTimeoutMs: 2000, perMinute: 30, uploadsPerDay: 20 };

/** A warehouse whose inserts the drill can break: 'down' fails them, 'hang' answers none until the mode changes. */
export class SwitchableWarehouse implements Warehouse {
  private current: 'up' | 'down' | 'hang' = 'up';
  private hanging: Array<() => void> = [];
  constructor(readonly inner: DuckDbWarehouse) {}
  get mode(): 'up' | 'down' | 'hang' {
    return this.current;
  }
  /** Changing the mode releases hanging inserts (as failures: their callers gave up long ago). */
  set mode(next: 'up' | 'down' | 'hang') {
    this.current = next;
    for (const release of this.hanging.splice(0)) release();
  }
  async insert<T extends TableName>(table: T, rows: Row<T>[], options?: InsertOptions): Promise<void> {
    if (this.current === 'hang') await new Promise<void>((r) => this.hanging.push(r));
    if (this.current !== 'up') throw new Error(`the drill took the warehouse ${this.current}`);
    return this.inner.insert(table, rows, options);
  }
  query: Warehouse['query'] = (sql, params) => this.inner.query(sql, params);
  close = () => this.inner.close();
}

export interface Targets {
  root: string;
  config: WorkloadConfig;
  lake: DataLake;
  warehouse: SwitchableWarehouse;
  hub: Hub;
  hubToken: string;
  hostile: HostileDogApi;
  /** The service under attack; `restart()` starts a new one on the same data root (the old one must have exited). */
  service: ServiceProcess;
  /** A second instance, on a data root of its own, whose Dog API is the hostile one. */
  fedByHostileApi: ServiceProcess;
  fedRoot: string;
  restart(): Promise<ServiceProcess>;
  close(): Promise<void>;
}

export async function startTargets(): Promise<Targets> {
  const root = await tempRoot('cv-drill-hostile-');
  const config = loadConfig({ env: {}, overrides: { dataRoot: root } });
  const lake = openDataLake(config);
  await buildTestModel({ store: lake.models });
  const warehouse = new SwitchableWarehouse(await DuckDbWarehouse.open(path.join(root, 'warehouse.duckdb')));
  const hubToken = 'drill-hub-token-0123456789abcdef';
  const hub = await startHub({ warehouse, token: hubToken, queries: hubQueries(config), scheduler: new LocalIdTokenIssuer(), port: 0 });
  const hostile = await startHostileDogApi();
  const services: ServiceProcess[] = [];

  const launch = async (dataRoot: string, extra: Record<string, string> = {}, attempt = 1): Promise<ServiceProcess> => {
    const svc = await startServiceProcess({
      entry: path.join(REPO_ROOT, 'workloads/inference/main.ts'),
      nodeArgs: ['--require', 'tsx/cjs'],
      dataRoot,
      env: {
        CV_WAREHOUSE_BACKEND: 'http',
        CV_WAREHOUSE_URL: hub.url,
        CV_WAREHOUSE_TOKEN: hubToken,
        CV_INFERENCE_WAREHOUSE_FLUSH_MS: '200',
        CV_INFERENCE_REQUEST_TIMEOUT_MS: String(SERVICE_LIMITS.requestTimeoutMs),
        // Clients are told apart by X-Forwarded-For, as behind Cloud Run's front end.
        CV_INFERENCE_TRUST_PROXY_HOPS: '1',
        CV_INFERENCE_RATE_LIMIT_PER_MINUTE: String(SERVICE_LIMITS.perMinute),
        CV_INFERENCE_RATE_LIMIT_UPLOADS_PER_DAY: String(SERVICE_LIMITS.uploadsPerDay),
        ...extra,
      },
      readyTimeoutMs: 90_000,
    }).catch((err: Error) => {
      // The free port the fixture picked was taken by another process before the service bound it: pick again.
      if (attempt < 3 && /EADDRINUSE/.test(err.message)) return undefined;
      throw err;
    });
    if (!svc) return launch(dataRoot, extra, attempt + 1);
    services.push(svc);
    return svc;
  };

  // Its own data root (the same model): nothing it might store mixes with the main instance's.
  const fedRoot = path.join(root, 'hostile-fed');
  await fs.mkdir(fedRoot);
  await fs.symlink(path.join(root, config.storage.buckets.models), path.join(fedRoot, config.storage.buckets.models));

  let service: ServiceProcess;
  let fedByHostileApi: ServiceProcess;
  try {
    service = await launch(root);
    fedByHostileApi = await launch(fedRoot, { CV_DOG_API_BASE_URL: hostile.url });
  } catch (err) {
    // Leave nothing running behind a failed start.
    for (const s of services) s.child.kill('SIGKILL');
    await hostile.close();
    await hub.close();
    await warehouse.close();
    throw err;
  }
  const targets: Targets = {
    root,
    config,
    lake,
    warehouse,
    hub,
    hubToken,
    hostile,
    service,
    fedByHostileApi,
    fedRoot,
    restart: async () => (targets.service = await launch(root)),
    close: async () => {
      for (const s of services) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
      await Promise.all(services.map((s) => s.exited));
      warehouse.mode = 'up';
      await hostile.close();
      hub.app.server.closeAllConnections();
      await hub.close();
      await warehouse.close();
      await fs.rm(root, { recursive: true, force: true });
    },
  };
  return targets;
}
