import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { serializerCompiler, validatorCompiler, ZodTypeProvider } from 'fastify-type-provider-zod';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { PAGE_SECURITY_HEADERS } from '../core/http/page-security';
import { assertSafeId, MODEL_FILES, modelKeys } from '../core/layout';
import { ObjectStore, readJson } from '../core/storage/object-store';
import { BigQueryWarehouse } from '../core/warehouse/bigquery-warehouse';
import type { Warehouse } from '../core/warehouse/warehouse';
import { AlertThresholds, evaluateAlerts } from './alerts';
import { ANNOTATION_PANEL_ID, PANELS, panelById, panelColumns, runPanel } from './panels';
import type { RequestLog } from './request-log';

/**
 * The local dashboard as a fastify plugin, registered with a prefix
 * (`app.register(dashboardPlugin, { prefix: '/dashboard', warehouse, models })`): the
 * panels of ./panels.ts drawn with ECharts (served from node_modules, no CDN), one JSON
 * endpoint per panel running its SQL on the warehouse, the alert banner, and links to each
 * model version's training plots in the models store. Mounted on the local supervisor's
 * hub; the page polls for live updates.
 */

export interface DashboardOptions {
  warehouse: Warehouse;
  /** The models bucket (model versions and registry pointers). */
  models: ObjectStore;
  /** Alert threshold overrides (defaults: config `monitoring.alerts`). */
  alerts?: Partial<AlertThresholds>;
  /** Source of the local error rate (the inference service's request log lines). */
  requestLog?: RequestLog;
  /** Seconds between page refreshes. */
  refreshSeconds?: number;
  /** Default time range of the page, in hours. */
  defaultRangeHours?: number;
}

const STATIC_DIR = path.join(__dirname, 'static');
/** Files of ./static the page loads (the HTML is a template, rendered by the page route). */
const STATIC_FILES = ['dashboard.js', 'dashboard.css'];
/** Files of a model version the page may link to, with their content types. */
const MODEL_ASSETS: Record<string, string> = {
  [MODEL_FILES.curves]: 'image/png',
  [MODEL_FILES.confusion]: 'image/png',
  [MODEL_FILES.card]: 'text/markdown; charset=utf-8',
  [MODEL_FILES.metrics]: 'application/json',
};
/** Versions listed on the page, newest first. */
const MAX_VERSIONS = 12;

export const dashboardPlugin: FastifyPluginAsync<DashboardOptions> = async (plain, options) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  // The page runs under a strict Content-Security-Policy wherever it is mounted (no inline script or style).
  await app.register(helmet, PAGE_SECURITY_HEADERS);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const prefix = app.prefix;
  const refreshSeconds = options.refreshSeconds ?? 5;
  const dialect = options.warehouse instanceof BigQueryWarehouse ? 'bigquery' : 'duckdb';
  const echartsFile = require.resolve('echarts/dist/echarts.min.js');
  const defaultRangeHours = options.defaultRangeHours ?? 24;

  // The page's links carry the prefix it is mounted under.
  const html = (await fs.readFile(path.join(STATIC_DIR, 'dashboard.html'), 'utf8')).replace(/\{\{prefix\}\}/g, prefix);
  // Registered as '/', fastify answers both `<prefix>` and `<prefix>/`.
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html));

  await app.register(fastifyStatic, {
    root: STATIC_DIR,
    prefix: '/static/',
    index: false,
    allowedPath: (file) => STATIC_FILES.includes(file.replace(/^\//, '')),
    cacheControl: false,
    setHeaders: (reply) => void reply.header('cache-control', 'no-cache'),
  });
  await app.register(fastifyStatic, {
    root: path.dirname(echartsFile),
    prefix: '/vendor/',
    decorateReply: false,
    index: false,
    allowedPath: (file) => file.replace(/^\//, '') === path.basename(echartsFile),
    maxAge: '1d',
  });

  app.get('/api/config', async () => ({
    refreshSeconds,
    defaultRangeHours,
    annotationPanel: ANNOTATION_PANEL_ID,
    panels: PANELS.map((p) => ({
      id: p.id,
      title: p.title,
      description: p.description,
      kind: p.kind,
      width: p.width,
      stacked: p.stacked ?? false,
      fields: p.fields,
      units: p.units ?? {},
      columns: panelColumns(p),
    })),
  }));

  app.get(
    '/api/panels/:id',
    { schema: { params: z.object({ id: z.string() }), querystring: z.object({ since: z.string().optional() }) } },
    async (req, reply) => {
      let panel;
      try {
        panel = panelById(req.params.id);
      } catch (err) {
        return reply.code(404).send({ message: (err as Error).message });
      }
      const since = parseSince(req.query.since, defaultRangeHours);
      if (!since) {
        return reply.code(400).send({
          message: `since=${JSON.stringify(req.query.since)} is not a time: expected an ISO-8601 timestamp such as 2026-11-23T16:00:00Z`,
        });
      }
      try {
        const rows = await runPanel(options.warehouse, panel, since, dialect);
        return { id: panel.id, since: since.toISOString(), columns: panelColumns(panel), rows };
      } catch (err) {
        req.log.error({ err, panel: panel.id }, 'panel query failed');
        return reply.code(500).send({ message: `panel ${panel.id} failed: ${(err as Error).message}` });
      }
    },
  );

  app.get('/api/alerts', async () => ({
    evaluatedAt: new Date().toISOString(),
    alerts: await evaluateAlerts(options.warehouse, { thresholds: options.alerts, requestLog: options.requestLog, dialect }),
  }));

  app.get('/api/models', async () => ({ versions: await listModelVersions(options.models, prefix) }));

  app.get('/models/:version/:file', { schema: { params: z.object({ version: z.string(), file: z.string() }) } }, async (req, reply) => {
    const { version, file } = req.params;
    const type = MODEL_ASSETS[file];
    if (!type) return reply.code(404).send({ message: `no model file ${file}; files served are ${Object.keys(MODEL_ASSETS).join(', ')}` });
    try {
      assertSafeId('model version', version);
    } catch (err) {
      return reply.code(400).send({ message: (err as Error).message });
    }
    const found = await options.models.readIfExists(modelKeys.file(version, file));
    if (!found) return reply.code(404).send({ message: `model version ${version} has no ${file}` });
    return reply.type(type).header('cache-control', 'public, max-age=3600').send(found.data);
  });
};

function parseSince(raw: string | undefined, defaultHours: number): Date | undefined {
  if (raw === undefined || raw === '') return new Date(Date.now() - defaultHours * 3600_000);
  const d = new Date(raw);
  return isNaN(d.getTime()) ? undefined : d;
}

export interface ModelVersionLinks {
  version: string;
  /** COMPLETE.json exists: the version was finished and can be served. */
  complete: boolean;
  roles: Array<'production' | 'challenger'>;
  updated: string;
  links: Record<string, string>;
}

/** Model versions in the store, newest first, with links to the files the page shows. */
export async function listModelVersions(models: ObjectStore, prefix = '/dashboard', max = MAX_VERSIONS): Promise<ModelVersionLinks[]> {
  const objects = await models.list(modelKeys.versionsPrefix);
  const byVersion = new Map<string, { files: Set<string>; updated: number }>();
  for (const o of objects) {
    const rest = o.key.slice(modelKeys.versionsPrefix.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) continue;
    const version = rest.slice(0, slash);
    const entry = byVersion.get(version) ?? { files: new Set<string>(), updated: 0 };
    entry.files.add(rest.slice(slash + 1));
    entry.updated = Math.max(entry.updated, o.updated.getTime());
    byVersion.set(version, entry);
  }
  const pointers = await Promise.all(
    (['production', 'challenger'] as const).map(async (role) => {
      try {
        return [role, (await readJson<{ version?: unknown }>(models, modelKeys.pointer(role)))?.version] as const;
      } catch {
        return [role, undefined] as const; // a pointer being rewritten or unreadable: show no badge
      }
    }),
  );
  // Version names sort by time (layout.newVersionName); fall back to the write time.
  const versions = [...byVersion.entries()]
    .sort((a, b) => (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : b[1].updated - a[1].updated))
    .slice(0, max);
  return versions.map(([version, entry]) => ({
    version,
    complete: entry.files.has(MODEL_FILES.complete),
    roles: pointers.filter(([, v]) => v === version).map(([role]) => role),
    updated: new Date(entry.updated).toISOString(),
    links: Object.fromEntries(
      Object.keys(MODEL_ASSETS)
        .filter((f) => entry.files.has(f))
        .map((f) => [f, `${prefix}/models/${encodeURIComponent(version)}/${encodeURIComponent(f)}`]),
    ),
  }));
}
