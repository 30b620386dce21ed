import Fastify, { FastifyInstance } from 'fastify';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { LocalObjectStore } from '../../core/storage/local-object-store';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import { Row } from '../../core/warehouse/tables';
import { dashboardPlugin } from '../dashboard';
import { DEMO_VERSIONS, populateDemoModels, populateDemoWarehouse } from '../demo-data';
import { PANELS } from '../panels';
import { describeInBrowser, launchChromium } from '../../../test/support/chromium';

/**
 * The dashboard page in headless Chromium (found by test/support/chromium.ts, driven by
 * playwright-core): every chart is drawn with data, the alert banner shows the alerts
 * crafted below, the page refreshes by itself, and it fits a phone. Screenshots go to
 * test-results/dashboard.png and test-results/dashboard-phone.png.
 */

const RESULTS = path.resolve(__dirname, '../../../test-results');

let n = 0;
function recent(correct: boolean, minutesAgo = 2): Row<'prediction_events'> {
  n++;
  return {
    ts: new Date(Date.now() - minutesAgo * 60_000),
    request_id: `live-${n}`,
    prediction_id: `live-${n}`,
    source: 'dogapi',
    image_uri: `file:///live/${n}.jpg`,
    true_label: 'beagle',
    predicted_label: correct ? 'beagle' : 'pug',
    correct,
    confidence: 0.7,
    latency_ms: 30 + (n % 7),
    model_version: DEMO_VERSIONS.vB,
    role: 'champion',
    top_k: '[]',
  };
}

describeInBrowser('dashboard page in Chromium', () => {
  let app: FastifyInstance;
  let url: string;
  let w: DuckDbWarehouse;
  let dir: string;
  let browser: Browser;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cv-dash-browser-'));
    w = await DuckDbWarehouse.open(':memory:');
    // The demo history ends two hours ago, so only the crafted live rows below fall in the
    // 60-minute alert window whatever minute of the hour the test runs at.
    await populateDemoWarehouse(w, new Date(Date.now() - 2 * 3_600_000));
    // A short live run: 25 champion predictions in the last minutes, 10 right (40% < the 60% threshold).
    await w.insert(
      'prediction_events',
      Array.from({ length: 25 }, (_, i) => recent(i < 10)),
    );
    const models = new LocalObjectStore(dir);
    await populateDemoModels(models);
    app = Fastify();
    await app.register(dashboardPlugin, { prefix: '/dashboard', warehouse: w, models, refreshSeconds: 1 });
    url = (await app.listen({ port: 0, host: '127.0.0.1' })) + '/dashboard';
    browser = await launchChromium();
    mkdirSync(RESULTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await w?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Waits until every chart panel is drawn by ECharts with data and every other panel is filled. */
  async function waitForCharts(page: Page): Promise<void> {
    await page.waitForFunction(
      (ids: string[]) =>
        ids.every((id) => {
          const card = document.querySelector(`[data-panel="${id}"]`) as HTMLElement | null;
          if (!card || card.dataset.state !== 'ready') return false;
          const el = card.querySelector('.chart');
          if (!el) return true; // table / stat
          // eslint-disable-next-line @typescript-eslint/no-explicit-any
          const chart = (window as any).echarts.getInstanceByDom(el);
          const series = chart?.getOption()?.series ?? [];
          return series.length > 0 && series.every((s: { data?: unknown[] }) => (s.data?.length ?? 0) > 0);
        }),
      PANELS.map((p) => p.id),
      { timeout: 20_000 },
    );
  }

  it('draws every panel with data, shows the firing alerts, links the training plots and refreshes live', async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    const response = await page.goto(url);
    expect(response?.headers()['content-security-policy']).toMatch(/script-src 'self';.*frame-ancestors 'none'/);
    await waitForCharts(page);

    // Tooltips render under the Content-Security-Policy (a violation is a console error, see the end).
    for (const kind of ['timeseries', 'bar', 'heatmap'] as const) {
      const id = PANELS.find((p) => p.kind === kind)!.id;
      const chart = page.locator(`[data-panel="${id}"] .chart`);
      await chart.scrollIntoViewIfNeeded();
      const box = (await chart.boundingBox())!;
      const shown = () =>
        page.evaluate((panel: string) => /\d/.test(document.querySelector(`[data-panel="${panel}"] .chart .tip`)?.textContent ?? ''), id);
      // A heatmap shows a tooltip only over a filled cell: sweep the plot until one does.
      let found = false;
      for (let i = 0; i < 36 && !found; i++) {
        await page.mouse.move(box.x + box.width * (0.25 + 0.1 * (i % 6)), box.y + box.height * (0.2 + 0.1 * Math.floor(i / 6)), {
          steps: 2,
        });
        await page.waitForTimeout(100);
        found = await shown();
      }
      expect([kind, found]).toEqual([kind, true]);
    }

    // Canvases really have pixels drawn on them (not just an initialised, empty chart).
    const inked = await page.evaluate(() =>
      Array.from(document.querySelectorAll('.card .chart')).map((chart) => {
        // ECharts may stack several canvas layers in one chart: count the ink of all of them.
        let ink = 0;
        for (const c of Array.from(chart.querySelectorAll('canvas'))) {
          const canvas = c as HTMLCanvasElement;
          const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
          for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 0 && (data[i] < 200 || data[i + 1] < 200 || data[i + 2] < 200)) ink++;
        }
        return ink;
      }),
    );
    const chartPanels = PANELS.filter((p) => p.kind !== 'table' && p.kind !== 'stat').length;
    expect(inked).toHaveLength(chartPanels);
    for (const ink of inked) expect(ink).toBeGreaterThan(500);

    // Tables and stats are filled.
    expect(await page.locator('[data-panel="events"] tbody tr').count()).toBe(9);
    expect(await page.locator('[data-panel="overview"] [data-field="predictions"] .v').textContent()).toBe('61');

    // The alert banner: the crafted accuracy drop and the failed pipeline run are firing.
    await page.waitForSelector('#alert-banner .alert[data-alert-id="accuracy_low"]');
    const banner = page.locator('#alert-banner');
    await expect(banner.locator('.alert[data-alert-id="accuracy_low"]').textContent()).resolves.toMatch(
      /Champion accuracy below threshold.*40\.0% over the last 60 min \(25 samples\)/,
    );
    await expect(banner.locator('.alert[data-alert-id="pipeline_failed"]').textContent()).resolves.toMatch(/run-t6/);
    expect(await banner.locator('.alert.critical').count()).toBe(2);
    expect(await banner.locator('.chip[data-alert-id="latency_p95_high"]').getAttribute('data-state')).toBe('ok');

    // Training plots of each model version are linked and load from the models store.
    await page.waitForFunction(() =>
      Array.from(document.querySelectorAll('.plot-link img')).every((i) => (i as HTMLImageElement).naturalWidth > 0),
    );
    const plots = await page.locator('.plot-link').evaluateAll((links) => links.map((a) => (a as HTMLAnchorElement).getAttribute('href')));
    expect(plots).toEqual([
      `/dashboard/models/${DEMO_VERSIONS.vB}/training-curves.png`,
      `/dashboard/models/${DEMO_VERSIONS.vB}/confusion-matrix.png`,
      `/dashboard/models/${DEMO_VERSIONS.vA}/training-curves.png`,
      `/dashboard/models/${DEMO_VERSIONS.vA}/confusion-matrix.png`,
    ]);
    expect(await page.locator(`[data-version="${DEMO_VERSIONS.vB}"] .badge.production`).textContent()).toBe('champion');

    await page.screenshot({ path: path.join(RESULTS, 'dashboard.png'), fullPage: true });

    // Live refresh: new predictions show up without a reload.
    await w.insert(
      'prediction_events',
      Array.from({ length: 4 }, () => recent(true, 0)),
    );
    await page.waitForFunction(
      () => document.querySelector('[data-panel="overview"] [data-field="predictions"] .v')?.textContent === '65',
      undefined,
      { timeout: 10_000 },
    );
    expect(errors).toEqual([]);
    await page.close();
  });

  it('fits a phone screen', async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    const page = await context.newPage();
    await page.goto(url);
    await waitForCharts(page);
    const { scrollWidth, innerWidth, columns } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      columns: getComputedStyle(document.getElementById('grid')!).gridTemplateColumns.split(' ').length,
    }));
    expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
    expect(columns).toBe(1);
    await page.screenshot({ path: path.join(RESULTS, 'dashboard-phone.png') });
    await context.close();
  });
});
