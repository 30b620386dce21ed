import { stringify } from 'yaml';
import { BIGQUERY_PLUGIN } from './dashboard';

/**
 * Grafana provisioning files for the Grafana VM: the BigQuery datasource (authenticated
 * as the VM's service account through the metadata server — no key files) and the
 * dashboard provider that loads the generated dashboard JSON from disk.
 */

export interface DatasourceProvisioningOptions {
  /** Uid the dashboard's targets refer to (pass the same to `grafanaDashboard`). */
  uid: string;
  /** Project queries run in (and are billed to). */
  project: string;
  /** BigQuery processing location of the warehouse dataset, e.g. `EU`. */
  location: string;
  name?: string;
}

export interface DatasourceProvisioning {
  apiVersion: 1;
  datasources: Array<{
    name: string;
    uid: string;
    type: typeof BIGQUERY_PLUGIN;
    access: 'proxy';
    isDefault: boolean;
    editable: boolean;
    jsonData: { authenticationType: 'gce'; defaultProject: string; processingLocation: string };
  }>;
}

export function grafanaDatasourceConfig(options: DatasourceProvisioningOptions): DatasourceProvisioning {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(options.uid)) {
    throw new Error(`datasource uid ${JSON.stringify(options.uid)} is invalid: expected 1-40 letters, digits, '-' or '_'`);
  }
  if (!options.project) throw new Error('project must not be empty: it is the project BigQuery jobs run in');
  if (!options.location)
    throw new Error('location must not be empty: it is the BigQuery processing location of the dataset, e.g. EU or us-central1');
  return {
    apiVersion: 1,
    datasources: [
      {
        name: options.name ?? 'BigQuery warehouse',
        uid: options.uid,
        type: BIGQUERY_PLUGIN,
        access: 'proxy',
        isDefault: true,
        editable: false,
        jsonData: { authenticationType: 'gce', defaultProject: options.project, processingLocation: options.location },
      },
    ],
  };
}

/** `provisioning/datasources/bigquery.yaml` */
export function grafanaDatasourceProvisioning(options: DatasourceProvisioningOptions): string {
  return stringify(grafanaDatasourceConfig(options));
}

export interface DashboardProvisioningOptions {
  /** Directory on the VM holding the dashboard JSON files, e.g. `/var/lib/grafana/dashboards`. */
  path: string;
  folder?: string;
  /** Seconds between rescans of the directory. */
  updateIntervalSeconds?: number;
}

export interface DashboardProvisioning {
  apiVersion: 1;
  providers: Array<{
    name: string;
    orgId: number;
    folder: string;
    type: 'file';
    disableDeletion: boolean;
    allowUiUpdates: boolean;
    updateIntervalSeconds: number;
    options: { path: string; foldersFromFilesStructure: boolean };
  }>;
}

export function grafanaDashboardProviderConfig(options: DashboardProvisioningOptions): DashboardProvisioning {
  if (!options.path.startsWith('/'))
    throw new Error(`dashboards path ${JSON.stringify(options.path)} must be absolute (a directory on the Grafana VM)`);
  return {
    apiVersion: 1,
    providers: [
      {
        name: 'creature-vision',
        orgId: 1,
        folder: options.folder ?? 'Creature Vision',
        type: 'file',
        // The files come from the repository: edits in the UI would be lost on the next deploy.
        disableDeletion: true,
        allowUiUpdates: false,
        updateIntervalSeconds: options.updateIntervalSeconds ?? 60,
        options: { path: options.path, foldersFromFilesStructure: false },
      },
    ],
  };
}

/** `provisioning/dashboards/creature-vision.yaml` */
export function grafanaDashboardProvisioning(options: DashboardProvisioningOptions): string {
  return stringify(grafanaDashboardProviderConfig(options));
}
