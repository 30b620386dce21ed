import { grafanaDashboard } from './dashboard';
import { grafanaDashboardProvisioning, grafanaDatasourceProvisioning } from './provisioning';

/** Where Grafana (Debian package) reads provisioning, and where the provider finds dashboards. */
export const GRAFANA_PATHS = {
  datasources: '/etc/grafana/provisioning/datasources/bigquery.yaml',
  dashboardProvider: '/etc/grafana/provisioning/dashboards/creature-vision.yaml',
  dashboardsDir: '/var/lib/grafana/dashboards',
  dashboard: '/var/lib/grafana/dashboards/creature-vision.json',
} as const;

export interface GrafanaFilesContext {
  project: string;
  /** BigQuery dataset of the warehouse. */
  datasetId: string;
  /** BigQuery processing location of the dataset. */
  location: string;
  datasourceUid?: string;
  /** Models bucket, for the dashboard's link to the model versions and their training plots. */
  modelsBucket?: string;
}

/**
 * Every file the Grafana VM needs, by absolute path: the datasource, the dashboard
 * provider and the dashboard itself, all bound to the same datasource uid.
 */
export function grafanaProvisioningFiles(ctx: GrafanaFilesContext): Record<string, string> {
  const uid = ctx.datasourceUid ?? 'creature-vision-bigquery';
  const dashboard = grafanaDashboard({ project: ctx.project, dataset: ctx.datasetId, datasourceUid: uid, modelsBucket: ctx.modelsBucket });
  return {
    [GRAFANA_PATHS.datasources]: grafanaDatasourceProvisioning({ uid, project: ctx.project, location: ctx.location }),
    [GRAFANA_PATHS.dashboardProvider]: grafanaDashboardProvisioning({ path: GRAFANA_PATHS.dashboardsDir }),
    [GRAFANA_PATHS.dashboard]: JSON.stringify(dashboard, null, 2) + '\n',
  };
}
