import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';

/**
 * Headless Chromium for the browser tests, driven by playwright-core (which downloads no
 * browser of its own). The browser is looked for where a user would have one:
 *   1. `CHROMIUM_PATH` (or Playwright's own `PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH`), if set;
 *   2. `chromium`, `chromium-browser`, `google-chrome`, `google-chrome-stable` on PATH;
 *   3. the usual install locations on Linux and macOS.
 * Without one, the browser tests are skipped with a notice saying how to enable them,
 * unless `REQUIRE_BROWSER_TESTS=1` (set by `.ci/run`, which installs Debian's chromium):
 * then they fail, so CI can never skip them silently.
 */

const PATH_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
const KNOWN_LOCATIONS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/snap/bin/chromium',
  '/usr/bin/google-chrome',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
];

const isExecutable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** The first Chromium or Chrome executable found, or null. `env` and `exists` are injectable for tests. */
export function findChromium(env: NodeJS.ProcessEnv = process.env, exists: (file: string) => boolean = isExecutable): string | null {
  const explicit = env.CHROMIUM_PATH || env.PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH;
  if (explicit) return exists(explicit) ? explicit : null;
  const dirs = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const name of PATH_NAMES) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      if (exists(candidate)) return candidate;
    }
  }
  return KNOWN_LOCATIONS.find(exists) ?? null;
}

export const CHROMIUM_PATH = findChromium();
export const browserTestsRequired = process.env.REQUIRE_BROWSER_TESTS === '1';

const HOW_TO_ENABLE =
  'install Chromium or Chrome (Debian/Ubuntu: `sudo apt-get install -y chromium`; macOS: Google Chrome) ' + 'or point CHROMIUM_PATH at one';

/**
 * `describe` for a browser suite: runs it when a browser is found; otherwise skips it with a
 * notice, or, when browser tests are required, declares one failing test that says why.
 */
export function describeInBrowser(name: string, body: () => void): void {
  if (CHROMIUM_PATH) {
    describe(name, body);
    return;
  }
  if (browserTestsRequired) {
    describe(name, () => {
      test('needs a browser (REQUIRE_BROWSER_TESTS=1)', () => {
        throw new Error(`no Chromium or Chrome found for the browser tests: ${HOW_TO_ENABLE}`);
      });
    });
    return;
  }
  console.warn(`skipping the browser tests "${name}": no Chromium or Chrome found; to run them, ${HOW_TO_ENABLE}`);
  describe.skip(name, body);
}

export async function launchChromium(): Promise<Browser> {
  if (!CHROMIUM_PATH) throw new Error(`no Chromium or Chrome found: ${HOW_TO_ENABLE}`);
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    // Off the network (there may be none) and out of first-run and sync work.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
