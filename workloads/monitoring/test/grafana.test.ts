import * as path from 'node:path';
import { parse } from 'yaml';
import { PANELS } from '../panels';
import {
  BIGQUERY_PLUGIN,
  grafanaDashboard,
  grafanaDashboardProvisioning,
  grafanaDatasourceProvisioning,
  GRAFANA_PATHS,
  GrafanaPanel,
  grafanaProvisioningFiles,
  QUERY_FORMAT,
} from '../grafana';

const opts = { project: 'my-project-123', dataset: 'creature_vision', datasourceUid: 'cv-bigquery' };

describe('Grafana dashboard JSON', () => {
  const dash = grafanaDashboard({ ...opts, modelsBucket: 'my-project-123-models' });
  const json = JSON.parse(JSON.stringify(dash)) as typeof dash;

  it('is plain JSON with the dashboard fields Grafana needs', () => {
    expect(json).toEqual(dash);
    expect(json).toMatchObject({
      uid: 'creature-vision',
      title: 'Creature Vision',
      timezone: 'utc',
      schemaVersion: expect.any(Number),
      time: { from: 'now-24h', to: 'now' },
    });
    expect(json.links[0].url).toBe('https://console.cloud.google.com/storage/browser/my-project-123-models/versions');
  });

  it('has one panel per panel definition, with unique ids and the same titles', () => {
    expect(json.panels.map((p) => p.title)).toEqual(PANELS.map((p) => p.title));
    expect(new Set(json.panels.map((p) => p.id)).size).toBe(PANELS.length);
    for (const p of json.panels) expect(['timeseries', 'barchart', 'table', 'stat']).toContain(p.type);
  });

  it('lays panels on the 24-column grid without overlaps', () => {
    const cells = new Set<string>();
    const overlaps: string[] = [];
    for (const p of json.panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x + w).toBeLessThanOrEqual(24);
      expect(w).toBeGreaterThan(0);
      expect(h).toBeGreaterThan(0);
      for (let i = x; i < x + w; i++)
        for (let j = y; j < y + h; j++) {
          if (cells.has(`${i},${j}`)) overlaps.push(`${p.title} at ${i},${j}`);
          cells.add(`${i},${j}`);
        }
    }
    expect(overlaps).toEqual([]);
  });

  it('binds every panel and target to the BigQuery datasource and runs raw SQL over the dataset', () => {
    for (const p of json.panels) {
      expect(p.datasource).toEqual({ type: BIGQUERY_PLUGIN, uid: 'cv-bigquery' });
      expect(p.targets).toHaveLength(1);
      for (const t of p.targets) {
        expect(t).toMatchObject({
          refId: 'A',
          datasource: { type: BIGQUERY_PLUGIN, uid: 'cv-bigquery' },
          rawQuery: true,
          editorMode: 'code',
          project: 'my-project-123',
          dataset: 'creature_vision',
        });
        expect(t.rawSql).not.toMatch(/\{\{|@since|date_trunc|quantile_cont/);
        expect(t.rawSql).toContain('$__timeFilter(');
        for (const table of t.rawSql.match(/`[^`]+`/g) ?? []) expect(table).toMatch(/^`my-project-123\.creature_vision\.[a-z_]+`$/);
      }
    }
  });

  it('asks for time series where the panel is one, with a TIMESTAMP time column, and tables elsewhere', () => {
    for (const [i, def] of PANELS.entries()) {
      const p: GrafanaPanel = json.panels[i];
      const t = p.targets[0];
      if (def.kind === 'timeseries') {
        expect(p.type).toBe('timeseries');
        expect(t.format).toBe(QUERY_FORMAT.timeSeries);
        expect(t.rawSql).toMatch(/TIMESTAMP_TRUNC\([^)]*\) AS time\b/);
        // Long format: one series per label value, named after it.
        if (def.fields.series) expect(p.fieldConfig.defaults.displayName).toBe(`\${__field.labels.${def.fields.series}}`);
      } else {
        expect(t.format).toBe(QUERY_FORMAT.table);
      }
    }
    expect(QUERY_FORMAT).toEqual({ timeSeries: 0, table: 1 });
  });

  it('shows units, a second axis for a second unit, and hides context columns', () => {
    const vol = json.panels.find((p) => p.title === 'Hourly predictions and accuracy')!;
    expect(vol.fieldConfig.defaults.unit).toBe('short');
    expect(vol.fieldConfig.overrides).toContainEqual({
      matcher: { id: 'byName', options: 'accuracy' },
      properties: [
        { id: 'unit', value: 'percentunit' },
        { id: 'custom.axisPlacement', value: 'right' },
        { id: 'min', value: 0 },
        { id: 'max', value: 1 },
      ],
    });
    const cvc = json.panels.find((p) => p.title === 'Champion vs shadow challenger')!;
    expect(cvc.fieldConfig.overrides[0]).toMatchObject({
      matcher: { options: 'pairs' },
      properties: [{ id: 'unit' }, { id: 'custom.hideFrom', value: { viz: true } }],
    });
    const conf = json.panels.find((p) => p.title.startsWith('Confusion'))!;
    expect(conf.transformations).toEqual([
      {
        id: 'groupingToMatrix',
        options: { columnField: 'predicted_label', rowField: 'true_label', valueField: 'predictions', emptyValue: 'zero' },
      },
    ]);
    const dist = json.panels.find((p) => p.title.startsWith('Class distribution'))!;
    expect(dist.transformations![0].options).toMatchObject({ columnField: 'dataset_version', rowField: 'label' });
  });

  it('draws retraining decisions and promotions as annotations from the warehouse', () => {
    const anno = json.annotations.list.find((a) => a.name === 'Retraining decisions and promotions') as {
      datasource: unknown;
      enable: boolean;
      target: { rawSql: string; format: number };
    };
    expect(anno).toBeDefined();
    expect(anno.datasource).toEqual({ type: BIGQUERY_PLUGIN, uid: 'cv-bigquery' });
    expect(anno.enable).toBe(true);
    expect(anno.target.rawSql).toMatch(/SELECT time, title, text, tags FROM/);
    expect(anno.target.rawSql).toContain('`my-project-123.creature_vision.model_events`');
    expect(anno.target.rawSql).toContain('`my-project-123.creature_vision.trigger_decisions`');
    expect(anno.target.format).toBe(QUERY_FORMAT.table);
  });

  it('rejects bad ids with a message naming them', () => {
    expect(() => grafanaDashboard({ ...opts, project: 'Bad Project' })).toThrow(/project "Bad Project" is not a Google Cloud project id/);
    expect(() => grafanaDashboard({ ...opts, dataset: 'cv-data' })).toThrow(/dataset "cv-data" is not a BigQuery dataset id/);
    expect(() => grafanaDashboard({ ...opts, datasourceUid: '' })).toThrow(/datasourceUid must not be empty/);
  });
});

describe('Grafana provisioning files', () => {
  it('datasource: the BigQuery plugin on the VM service account (metadata server), no key', () => {
    const text = grafanaDatasourceProvisioning({ uid: 'cv-bigquery', project: 'my-project-123', location: 'EU' });
    const doc = parse(text);
    expect(doc).toEqual({
      apiVersion: 1,
      datasources: [
        {
          name: 'BigQuery warehouse',
          uid: 'cv-bigquery',
          type: 'grafana-bigquery-datasource',
          access: 'proxy',
          isDefault: true,
          editable: false,
          jsonData: { authenticationType: 'gce', defaultProject: 'my-project-123', processingLocation: 'EU' },
        },
      ],
    });
    expect(text).not.toMatch(/privateKey|secureJsonData/);
    expect(() => grafanaDatasourceProvisioning({ uid: 'a b', project: 'p', location: 'EU' })).toThrow(/datasource uid "a b" is invalid/);
  });

  it('dashboards: a file provider over the directory the VM writes the JSON to', () => {
    const doc = parse(grafanaDashboardProvisioning({ path: '/var/lib/grafana/dashboards' }));
    expect(doc.apiVersion).toBe(1);
    expect(doc.providers).toEqual([
      expect.objectContaining({
        name: 'creature-vision',
        type: 'file',
        folder: 'Creature Vision',
        allowUiUpdates: false,
        options: { path: '/var/lib/grafana/dashboards', foldersFromFilesStructure: false },
      }),
    ]);
    expect(() => grafanaDashboardProvisioning({ path: 'dashboards' })).toThrow(/must be absolute/);
  });
});

describe('grafanaProvisioningFiles', () => {
  it('gives the VM every file by absolute path, bound to one datasource uid', () => {
    const files = grafanaProvisioningFiles({
      project: 'my-project-123',
      datasetId: 'creature_vision',
      location: 'EU',
      datasourceUid: 'cv-bq',
    });
    expect(Object.keys(files).sort()).toEqual([GRAFANA_PATHS.dashboardProvider, GRAFANA_PATHS.datasources, GRAFANA_PATHS.dashboard].sort());
    expect(parse(files[GRAFANA_PATHS.datasources]).datasources[0].uid).toBe('cv-bq');
    expect(parse(files[GRAFANA_PATHS.dashboardProvider]).providers[0].options.path).toBe(GRAFANA_PATHS.dashboardsDir);
    expect(path.dirname(GRAFANA_PATHS.dashboard)).toBe(GRAFANA_PATHS.dashboardsDir);
    const dash = JSON.parse(files[GRAFANA_PATHS.dashboard]) as ReturnType<typeof grafanaDashboard>;
    for (const p of dash.panels) for (const t of p.targets) expect(t.datasource.uid).toBe('cv-bq');
    // Instance metadata values are limited (256 KiB); the whole set stays far below it uncompressed.
    expect(Object.values(files).join('').length).toBeLessThan(128 * 1024);
  });
});
