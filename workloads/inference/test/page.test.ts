import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { describeInBrowser, launchChromium } from '../../../test/support/chromium';
import { eventually, startTestService, TestService } from './fixtures/service';
import { buildTestModel, photosOf, REPO_ROOT } from './fixtures/test-model';

const SCREENSHOT = path.join(REPO_ROOT, 'test-results', 'inference-page.png');

/**
 * The upload page in headless Chromium: upload a real photo, see the top-3
 * breeds, send a correction, and find the feedback row in the warehouse.
 */
describeInBrowser('upload page in a browser', () => {
  let svc: TestService;
  let browser: Browser;

  beforeAll(async () => {
    svc = await startTestService({ beforeStart: async (lake) => void (await buildTestModel({ store: lake.models })) });
    await svc.app.inference.models.whenReady();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await svc?.close();
  });

  test('upload, see a breed, correct it, feedback row lands in the warehouse', async () => {
    const page = await browser.newPage({ viewport: { width: 420, height: 900 }, deviceScaleFactor: 2 });
    // The page works under its Content-Security-Policy: a blocked script or style is a console error.
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    const response = await page.goto(svc.url);
    expect(response?.headers()['content-security-policy']).toMatch(/style-src 'self'/);
    await page.waitForLoadState('networkidle'); // /labels fetched
    const [photo] = await photosOf('samoyed', 1);
    await page.setInputFiles('#photo', photo);

    await page.waitForSelector('#result:not([hidden]) .guess');
    const names = await page.locator('.guess .name').allTextContents();
    expect(names).toHaveLength(3);
    expect(names).toEqual(expect.arrayContaining(['Beagle', 'Pug', 'Samoyed']));
    const widths = await page.locator('.bar span').evaluateAll((els) => els.map((e) => parseFloat((e as HTMLElement).style.width)));
    expect(widths[0]).toBeGreaterThanOrEqual(widths[1]);

    const predicted = await page.locator('#top-name').textContent();
    await page.click('#no');
    const options = await page.locator('#breed option').allTextContents();
    expect(options).toContain('Golden Retriever');
    expect(options).not.toContain(predicted);
    await page.selectOption('#breed', 'golden_retriever');
    await page.screenshot({ path: SCREENSHOT.replace('.png', '-correcting.png'), fullPage: true });
    await page.click('#send');
    await page.waitForSelector('#thanks:not([hidden])');
    expect(await page.locator('#thanks').textContent()).toMatch(/Golden Retriever/);
    await fs.mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    const rows = await eventually(async () => {
      const r = await svc.warehouse.query("SELECT * FROM {{feedback}} WHERE label = 'golden_retriever'");
      return r.length ? r : undefined;
    });
    expect(rows[0]).toMatchObject({ correct: false, label: 'golden_retriever' });
    expect(errors).toEqual([]);
  });

  test('a refused file shows the reason on the page', async () => {
    const page = await browser.newPage({ viewport: { width: 420, height: 700 } });
    await page.goto(svc.url);
    await page.setInputFiles('#photo', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('definitely not a png') });
    await page.waitForSelector('#status.error');
    expect(await page.locator('#status').textContent()).toMatch(/not an image/);
  });
});
