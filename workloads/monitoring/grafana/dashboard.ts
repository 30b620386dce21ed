import { renderTables } from '../../core/warehouse/warehouse';
import { ANNOTATION_PANEL_ID, PANELS, panelById, PanelDef, panelSql, Unit } from '../panels';

/**
 * The Grafana dashboard generated from ../panels.ts for the `grafana-bigquery-datasource`
 * plugin: every panel's SQL rendered in the `grafana` dialect (BigQuery SQL with
 * `$__timeFilter`), tables qualified as `project.dataset.table`, each target bound to the
 * provisioned datasource by uid. The Grafana VM component writes it next to the
 * dashboard provider file (./provisioning.ts).
 */

export const BIGQUERY_PLUGIN = 'grafana-bigquery-datasource';

/** The plugin's query formats (src/types.ts `QueryFormat` in grafana/google-bigquery-datasource). */
export const QUERY_FORMAT = { timeSeries: 0, table: 1 } as const;

export interface GrafanaDashboardOptions {
  /** Project that holds the warehouse dataset. */
  project: string;
  /** BigQuery dataset of the warehouse tables. */
  dataset: string;
  /** Uid of the provisioned BigQuery datasource. */
  datasourceUid: string;
  uid?: string;
  title?: string;
  /** Auto-refresh interval, e.g. `1m`. */
  refresh?: string;
  /** Models bucket: adds a link to the model versions (training plots) in the Cloud console. */
  modelsBucket?: string;
}

export interface GrafanaDatasourceRef {
  type: typeof BIGQUERY_PLUGIN;
  uid: string;
}

export interface GrafanaTarget {
  refId: string;
  datasource: GrafanaDatasourceRef;
  rawSql: string;
  rawQuery: true;
  editorMode: 'code';
  format: 0 | 1;
  project: string;
  dataset: string;
}

export interface GrafanaPanel {
  id: number;
  type: 'timeseries' | 'barchart' | 'table' | 'stat';
  title: string;
  description: string;
  datasource: GrafanaDatasourceRef;
  gridPos: { x: number; y: number; w: number; h: number };
  targets: GrafanaTarget[];
  fieldConfig: {
    defaults: Record<string, unknown>;
    overrides: Array<{ matcher: { id: string; options: string }; properties: Array<{ id: string; value: unknown }> }>;
  };
  options: Record<string, unknown>;
  transformations?: Array<{ id: string; options: Record<string, unknown> }>;
}

export interface GrafanaDashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  timezone: 'utc';
  editable: boolean;
  schemaVersion: number;
  version: number;
  refresh: string;
  time: { from: string; to: string };
  annotations: { list: Array<Record<string, unknown>> };
  templating: { list: unknown[] };
  links: Array<Record<string, unknown>>;
  panels: GrafanaPanel[];
}

const GRID_WIDTH = 24;
const HEIGHT: Record<PanelDef['kind'], number> = { stat: 4, timeseries: 8, bar: 9, heatmap: 9, table: 9 };

const GRAFANA_UNIT: Record<Unit, string> = { ratio: 'percentunit', ms: 'ms', s: 's', min: 'm', count: 'short' };

const PROJECT_ID = /^[a-z][-a-z0-9.:]{4,61}[a-z0-9]$/;
const DATASET_ID = /^[A-Za-z0-9_]{1,1024}$/;

export function grafanaDashboard(options: GrafanaDashboardOptions): GrafanaDashboard {
  const { project, dataset, datasourceUid } = options;
  if (!PROJECT_ID.test(project))
    throw new Error(`project ${JSON.stringify(project)} is not a Google Cloud project id (6-63 lowercase letters, digits, hyphens)`);
  if (!DATASET_ID.test(dataset))
    throw new Error(`dataset ${JSON.stringify(dataset)} is not a BigQuery dataset id (letters, digits, underscores)`);
  if (!datasourceUid) throw new Error('datasourceUid must not be empty: it binds every panel to the provisioned BigQuery datasource');

  const ds: GrafanaDatasourceRef = { type: BIGQUERY_PLUGIN, uid: datasourceUid };
  const sqlOf = (p: PanelDef): string => renderTables(panelSql(p, 'grafana'), (t) => `\`${project}.${dataset}.${t}\``);
  const target = (p: PanelDef, refId = 'A'): GrafanaTarget => ({
    refId,
    datasource: ds,
    rawSql: sqlOf(p),
    rawQuery: true,
    editorMode: 'code',
    // Long-format rows (time, series, value) become one series per label value in time-series format.
    format: p.kind === 'timeseries' ? QUERY_FORMAT.timeSeries : QUERY_FORMAT.table,
    project,
    dataset,
  });

  // Lay panels out left to right, two halves per row.
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  const panels = PANELS.map((p, i): GrafanaPanel => {
    const w = p.width === 'full' ? GRID_WIDTH : GRID_WIDTH / 2;
    const h = HEIGHT[p.kind];
    if (x + w > GRID_WIDTH) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    const gridPos = { x, y, w, h };
    x += w;
    rowHeight = Math.max(rowHeight, h);
    return { id: i + 1, title: p.title, description: p.description, datasource: ds, gridPos, targets: [target(p)], ...visual(p) };
  });

  const events = panelById(ANNOTATION_PANEL_ID);
  return {
    uid: options.uid ?? 'creature-vision',
    title: options.title ?? 'Creature Vision',
    description:
      'Continual learning at a glance: accuracy per model version, traffic, latency, data and every retraining decision. Generated from workloads/monitoring/panels.ts.',
    tags: ['creature-vision', 'generated'],
    timezone: 'utc',
    editable: true,
    schemaVersion: 39,
    version: 1,
    refresh: options.refresh ?? '1m',
    time: { from: 'now-24h', to: 'now' },
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
        {
          name: events.title,
          datasource: ds,
          enable: true,
          iconColor: 'purple',
          // Columns time, title, text, tags: the plugin's annotation format.
          target: { ...target(events, 'Annotations'), format: QUERY_FORMAT.table },
        },
      ],
    },
    templating: { list: [] },
    links: options.modelsBucket
      ? [
          {
            title: 'Model versions and training plots',
            type: 'link',
            icon: 'external link',
            targetBlank: true,
            url: `https://console.cloud.google.com/storage/browser/${encodeURIComponent(options.modelsBucket)}/versions`,
          },
        ]
      : [],
    panels,
  };
}

type Visual = Pick<GrafanaPanel, 'type' | 'fieldConfig' | 'options' | 'transformations'>;

function visual(p: PanelDef): Visual {
  const f = p.fields;
  const units = p.units ?? {};
  const drawnUnits = [...new Set(f.values.map((v) => units[v]).filter(Boolean))] as Unit[];
  const defaults: Record<string, unknown> = {};
  if (drawnUnits.length >= 1) defaults.unit = GRAFANA_UNIT[drawnUnits[0]];
  if (drawnUnits.length === 1 && drawnUnits[0] === 'ratio') Object.assign(defaults, { min: 0, max: 1 });
  const overrides: GrafanaPanel['fieldConfig']['overrides'] = [];
  for (const [col, unit] of Object.entries(units)) {
    const setUnit = { id: 'unit', value: GRAFANA_UNIT[unit] };
    if (p.kind === 'table' || p.kind === 'stat') {
      if (unit !== drawnUnits[0]) overrides.push({ matcher: { id: 'byName', options: col }, properties: [setUnit] });
    } else if (!f.values.includes(col)) {
      // Context columns (e.g. sample counts) stay in the tooltip but are not drawn.
      overrides.push({
        matcher: { id: 'byName', options: col },
        properties: [setUnit, { id: 'custom.hideFrom', value: { viz: true, legend: true, tooltip: false } }],
      });
    } else if (unit !== drawnUnits[0]) {
      // A second unit goes on its own axis on the right.
      const range =
        unit === 'ratio'
          ? [
              { id: 'min', value: 0 },
              { id: 'max', value: 1 },
            ]
          : [];
      overrides.push({
        matcher: { id: 'byName', options: col },
        properties: [setUnit, { id: 'custom.axisPlacement', value: 'right' }, ...range],
      });
    }
  }
  const fieldConfig = { defaults, overrides };
  const legend = { displayMode: 'list', placement: 'bottom', showLegend: true };
  switch (p.kind) {
    case 'timeseries':
      if (f.series) defaults.displayName = `\${__field.labels.${f.series}}`;
      defaults.custom = { drawStyle: 'line', lineWidth: 2, pointSize: 5, showPoints: 'always', spanNulls: true };
      return { type: 'timeseries', fieldConfig, options: { legend, tooltip: { mode: 'multi', sort: 'none' } } };
    case 'bar':
      return {
        type: 'barchart',
        fieldConfig,
        options: {
          legend,
          orientation: 'auto',
          stacking: p.stacked ? 'normal' : 'none',
          showValue: 'auto',
          xTickLabelRotation: -45,
          ...(f.series ? {} : { xField: f.category }),
        },
        ...(f.series ? { transformations: [matrix(f.series, f.category!, f.values[0])] } : {}),
      };
    case 'heatmap':
      // Grafana's heatmap panel wants numeric buckets; a colour-graded matrix table shows a confusion matrix better.
      defaults.custom = { cellOptions: { type: 'color-background', mode: 'gradient' }, align: 'center' };
      defaults.color = { mode: 'continuous-YlRd' };
      return {
        type: 'table',
        fieldConfig,
        options: { showHeader: true, cellHeight: 'sm' },
        transformations: [matrix(f.category!, f.y!, f.values[0])],
      };
    case 'table':
      return {
        type: 'table',
        fieldConfig,
        options: { showHeader: true, cellHeight: 'sm', sortBy: f.time ? [{ displayName: f.time, desc: true }] : [] },
      };
    case 'stat':
      return {
        type: 'stat',
        fieldConfig,
        options: {
          reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
          colorMode: 'none',
          graphMode: 'none',
          textMode: 'value_and_name',
          justifyMode: 'auto',
          orientation: 'horizontal',
        },
      };
  }
}

/** Long (row, column, value) rows → a wide matrix: one row per `row` value, one column per `column` value. */
function matrix(column: string, row: string, value: string): { id: string; options: Record<string, unknown> } {
  return { id: 'groupingToMatrix', options: { columnField: column, rowField: row, valueField: value, emptyValue: 'zero' } };
}
