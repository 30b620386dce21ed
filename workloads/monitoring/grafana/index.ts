/**
 * Everything the Grafana VM component needs, as plain data and strings:
 *   grafanaDashboard(...)              → dashboard JSON (JSON.stringify it into dashboards/creature-vision.json)
 *   grafanaDatasourceProvisioning(...) → provisioning/datasources/bigquery.yaml
 *   grafanaDashboardProvisioning(...)  → provisioning/dashboards/creature-vision.yaml
 */
export * from './dashboard';
export * from './provisioning';
export * from './files';
