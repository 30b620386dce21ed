import * as path from 'node:path';
import type { WorkloadConfig } from '../config/schema';
import { BigQueryWarehouse } from './bigquery-warehouse';
import { DuckDbWarehouse } from './duckdb-warehouse';
import { HttpWarehouse } from './http-warehouse';
import type { Warehouse } from './warehouse';

/** Opens the warehouse the config names. */
export async function openWarehouse(config: Pick<WorkloadConfig, 'dataRoot' | 'warehouse'>): Promise<Warehouse> {
  const w = config.warehouse;
  switch (w.backend) {
    case 'bigquery': {
      if (!w.projectId)
        throw new Error('config key warehouse.projectId (env CV_WAREHOUSE_PROJECT_ID) is required when warehouse.backend is "bigquery"');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { BigQuery } = require('@google-cloud/bigquery') as typeof import('@google-cloud/bigquery');
      return new BigQueryWarehouse(new BigQuery({ projectId: w.projectId }), w.projectId, w.dataset, w.location);
    }
    case 'http':
      if (!w.url) throw new Error('config key warehouse.url (env CV_WAREHOUSE_URL) is required when warehouse.backend is "http"');
      return new HttpWarehouse(w.url, w.token);
    case 'duckdb':
      return DuckDbWarehouse.open(path.resolve(config.dataRoot, w.duckdbFile));
  }
}
