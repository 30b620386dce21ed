import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { configToEnv } from '../core/config/load';
import { ENTRY_POINTS } from '../core/entry-points';
import type { WorkloadConfig } from '../core/config/schema';
import { LocalDogApi, startLocalDogApi } from '../core/dogapi/local-dog-api';
import { LOCAL_SCHEDULER, LocalIdTokenIssuer } from '../core/gcp/local-id-tokens';
import { DataLake, openDataLake } from '../core/storage/data-lake';
import { DuckDbWarehouse } from '../core/warehouse/duckdb-warehouse';
import { REPO_ROOT } from '../../pipeline-specs/runner';
import { ManagedProcess, startWorkload, waitForHttp } from './child-process';
import { Hub, SCHEDULER_CERTS_PATH, startHub } from './hub';
import { hubQueries } from './hub-queries';

/**
 * The local stand-ins for the cloud services, started by `npm start`:
 *  - the warehouse: this process owns the DuckDB file (DuckDB allows one writer process)
 *    and serves it to the other local processes over HTTP, on the "hub" server, which
 *    also serves the dashboard. The hub answers requests for its own address only; its
 *    warehouse routes want this run's token and run only named queries (./hub-queries.ts);
 *  - the dog image API over the breed folders (unless a real Dog CEO URL is configured);
 *  - the inference service as its own process, as it is its own Cloud Run service;
 *  - the scheduler's identity: a per-run key that signs the internal calls (GET /predict,
 *    GET /status) as Cloud Scheduler's OIDC token does; the hub serves its certificates
 *    and the service verifies them with the same code as on Cloud Run.
 */
export interface LocalServicesOptions {
  config: WorkloadConfig;
  hubPort: number;
  /** Mounts the dashboard on the hub (monitoring workload). */
  mountDashboard?: (
    app: FastifyInstance,
    services: { warehouse: DuckDbWarehouse; lake: DataLake; config: WorkloadConfig },
  ) => Promise<void>;
}

/** This run's hub token, under the data root (readable by its owner only). */
export const HUB_TOKEN_FILE = 'hub.token';

export class LocalServices {
  warehouse!: DuckDbWarehouse;
  lake!: DataLake;
  hub!: Hub;
  hubUrl = '';
  dogApi: LocalDogApi | undefined;
  dogApiUrl = '';
  inference: ManagedProcess | undefined;
  inferenceUrl = '';
  readonly logDir: string;
  /** Every request to the hub's warehouse carries it; the processes started here get it in their environment. */
  private readonly hubToken = randomBytes(32).toString('base64url');
  /** Signs the internal calls to the inference service (see {@link internalHeaders}). */
  readonly scheduler = new LocalIdTokenIssuer();

  constructor(private readonly options: LocalServicesOptions) {
    this.logDir = path.resolve(options.config.dataRoot, 'logs');
  }

  get config(): WorkloadConfig {
    return this.options.config;
  }

  async start(): Promise<void> {
    const { config } = this.options;
    await fs.mkdir(path.resolve(config.dataRoot), { recursive: true });
    this.lake = openDataLake(config);
    this.warehouse = await DuckDbWarehouse.open(path.resolve(config.dataRoot, config.warehouse.duckdbFile));

    this.hub = await startHub({
      warehouse: this.warehouse,
      token: this.hubToken,
      queries: hubQueries(config),
      scheduler: this.scheduler,
      port: this.options.hubPort,
      mount: async (app) => this.options.mountDashboard?.(app, { warehouse: this.warehouse, lake: this.lake, config }),
    });
    this.hubUrl = this.hub.url;
    // For a process started by hand against this run's hub (see workloads/monitoring/README.md).
    await fs.writeFile(path.resolve(config.dataRoot, HUB_TOKEN_FILE), this.hubToken, { mode: 0o600 });

    if (config.dogApi.baseUrl) {
      this.dogApiUrl = config.dogApi.baseUrl;
    } else {
      this.dogApi = await startLocalDogApi({ datasetDir: path.resolve(config.dogApi.datasetDir) });
      this.dogApiUrl = this.dogApi.url;
    }

    this.inference = await startWorkload({
      name: 'inference',
      entry: ENTRY_POINTS.inferenceService.source,
      env: this.workloadEnv(),
      cwd: REPO_ROOT,
      logDir: this.logDir,
    });
    this.inferenceUrl = `http://127.0.0.1:${config.inference.port}`;
    await waitForHttp(`${this.inferenceUrl}/healthz`, this.inference);
  }

  /**
   * Environment for every local workload process: the same CV_* configuration the cloud
   * services get, pointed at the local stand-ins.
   */
  workloadEnv(): NodeJS.ProcessEnv {
    const { config } = this.options;
    return {
      ...process.env,
      ...configToEnv({
        ...config,
        dataRoot: path.resolve(config.dataRoot),
        warehouse: { ...config.warehouse, backend: 'http', url: this.hubUrl, token: this.hubToken },
        dogApi: {
          ...config.dogApi,
          baseUrl: this.dogApiUrl,
          datasetDir: path.resolve(config.dogApi.datasetDir),
          // The local dataset's breeds are the ones ingestion accepts from it (unless dogApi.breeds names them).
          breeds: config.dogApi.breeds.length || !this.dogApi ? config.dogApi.breeds : [...this.dogApi.breeds.values()].map((b) => b.label),
        },
        inference: {
          ...config.inference,
          host: '127.0.0.1',
          ingestAuth: { ...LOCAL_SCHEDULER, certsUrl: `${this.hubUrl}${SCHEDULER_CERTS_PATH}` },
        },
      }),
    };
  }

  /** Headers of an internal call to the inference service, as the scheduler makes it. */
  internalHeaders(): Record<string, string> {
    return {
      authorization: `Bearer ${this.scheduler.sign({ audience: LOCAL_SCHEDULER.audience, email: LOCAL_SCHEDULER.serviceAccount, lifetimeS: 600 })}`,
    };
  }

  /** Stops everything, inference first so its queued warehouse rows still reach DuckDB. */
  async stop(): Promise<void> {
    await this.inference?.stop();
    await this.dogApi?.close();
    await this.hub?.close();
    await this.warehouse?.close();
  }
}
