import * as path from 'node:path';
import { findChromium } from './chromium';

/** Where the browser tests look for a browser (a user's machine, not only Debian's path). */
describe('findChromium', () => {
  const only =
    (...files: string[]) =>
    (f: string): boolean =>
      files.includes(f);

  test('CHROMIUM_PATH wins, and is not second-guessed when it does not exist', () => {
    expect(findChromium({ CHROMIUM_PATH: '/opt/c/chrome', PATH: '/usr/bin' }, only('/opt/c/chrome', '/usr/bin/chromium'))).toBe(
      '/opt/c/chrome',
    );
    expect(findChromium({ CHROMIUM_PATH: '/nope', PATH: '/usr/bin' }, only('/usr/bin/chromium'))).toBeNull();
  });

  test('Playwright’s own variable is honoured', () => {
    expect(findChromium({ PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH: '/x/chromium' }, only('/x/chromium'))).toBe('/x/chromium');
  });

  test('looks on PATH under the common names, in order of preference', () => {
    const home = path.join('/home/u/bin');
    const env = { PATH: ['/usr/local/bin', home].join(path.delimiter) };
    expect(findChromium(env, only(path.join(home, 'google-chrome')))).toBe(path.join(home, 'google-chrome'));
    expect(findChromium(env, only(path.join(home, 'google-chrome'), '/usr/local/bin/chromium-browser'))).toBe(
      '/usr/local/bin/chromium-browser',
    );
  });

  test('falls back to the usual install locations, else null', () => {
    expect(findChromium({ PATH: '' }, only('/Applications/Google Chrome.app/Contents/MacOS/Google Chrome'))).toBe(
      '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
    );
    expect(findChromium({ PATH: '/usr/bin' }, () => false)).toBeNull();
  });
});
