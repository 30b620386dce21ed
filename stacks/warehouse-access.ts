import type { WorkloadIdentity } from '../components/identity';
import type { TableName } from '../workloads/core/warehouse/tables';

/** What one identity does in the warehouse. */
export interface TableAccess {
  /** Tables it appends rows to (streaming inserts): `roles/bigquery.dataEditor` on each table. */
  writes: readonly TableName[];
  /** Tables it queries: `roles/bigquery.dataViewer` on each one it does not also write. */
  reads: readonly TableName[];
  /** Reads every table (a dashboard): `roles/bigquery.dataViewer` on the dataset. */
  readsAll?: true;
}

/**
 * Who writes and reads which warehouse table, table by table, from the code each identity
 * runs. stacks/test/warehouse-access.test.ts follows each identity's entry points through
 * their imports and checks this against the `insert('<table>')`, `sink.add('<table>')` and
 * `{{<table>}}` references it finds; an identity that runs queries also needs
 * `roles/bigquery.jobUser` (components/identity.ts), one that only inserts does not.
 */
export const WAREHOUSE_ACCESS: Record<WorkloadIdentity, TableAccess> = {
  // Prediction and feedback events, and model zero's creation on a fresh stack; it never queries.
  inference: { writes: ['prediction_events', 'feedback', 'model_events'], reads: [] },
  // The retraining decision (POST /check); the signals it decides on. Before deciding it writes
  // any production move the registry holds without its model_events row (a promote that crashed
  // after moving the pointer), so drift is judged against the served model's own baseline.
  trigger: { writes: ['trigger_decisions', 'model_events'], reads: ['model_events', 'prediction_events', 'trigger_decisions'] },
  // The Vertex steps: check-trigger (the trigger's code), preprocess (commit), train, evaluate, promote.
  pipeline: {
    writes: ['trigger_decisions', 'dataset_versions', 'class_distribution', 'training_runs', 'training_epochs', 'model_events'],
    reads: ['model_events', 'prediction_events', 'trigger_decisions'],
  },
  // The preprocessing job's transform tasks read raw images and write staged parts: no BigQuery
  // (workloads/preprocessing/cli.ts opens the warehouse only for a whole run or `--stage commit`,
  // which the pipeline's preprocess step runs as the pipeline account).
  preprocessing: { writes: [], reads: [] },
  grafana: { writes: [], reads: [], readsAll: true },
  scheduler: { writes: [], reads: [] },
};

/** Identities that run BigQuery query jobs (and so need `roles/bigquery.jobUser` on the project). */
export function runsQueries(access: TableAccess): boolean {
  return access.readsAll === true || access.reads.length > 0;
}
