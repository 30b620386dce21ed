import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/**
 * Supply chain (issue 14, item 7): `npm ci` checks every tarball against the lock's
 * integrity hash, so every entry needs one, including the platform binaries installed only
 * elsewhere (23 of them had none: npm install never fetched them here, npm/cli#9846).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { completeLockfile, missingIntegrity } = require('../.ci/complete-lockfile.js') as {
  completeLockfile(lock: Lock, lookup: (name: string, version: string) => string): { added: string[]; hashed: string[] };
  missingIntegrity(lock: Lock): string[];
};
type Lock = { packages: Record<string, Record<string, unknown>> };

const REPO = path.resolve(__dirname, '..');

describe('package-lock.json', () => {
  test('every entry installed from the registry carries an integrity hash', () => {
    const lock = JSON.parse(readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as Lock;
    expect(missingIntegrity(lock)).toEqual([]);
  });

  test('completing a lock adds the platform entries npm install left out, each with the registry integrity hash', () => {
    const lock: Lock = {
      packages: {
        '': { name: 'x' },
        'node_modules/@duckdb/node-bindings': {
          version: '1.0.0',
          integrity: 'sha512-present',
          optionalDependencies: { '@duckdb/node-bindings-linux-arm64-musl': '1.0.0', '@duckdb/node-bindings-linux-x64': '1.0.0' },
        },
        'node_modules/@duckdb/node-bindings-linux-x64': {
          version: '1.0.0',
          integrity: 'sha512-present',
          cpu: ['x64'],
          optional: true,
          os: ['linux'],
        },
        'node_modules/legacy': { version: '2.0.0', dev: true },
        'node_modules/linked': { resolved: 'packages/linked', link: true },
      },
    };
    const lookups: string[] = [];
    const { added, hashed } = completeLockfile(lock, (name, version) => {
      lookups.push(`${name}@${version}`);
      return `sha512-of-${name}@${version}`;
    });
    expect(added).toEqual(['@duckdb/node-bindings-linux-arm64-musl@1.0.0 (linux arm64 musl)']);
    expect([...lookups].sort()).toEqual(['@duckdb/node-bindings-linux-arm64-musl@1.0.0', 'legacy@2.0.0']);
    expect(hashed).toEqual(lookups);
    expect(lock.packages['node_modules/@duckdb/node-bindings-linux-arm64-musl']).toEqual({
      version: '1.0.0',
      integrity: 'sha512-of-@duckdb/node-bindings-linux-arm64-musl@1.0.0',
      cpu: ['arm64'],
      libc: ['musl'],
      optional: true,
      os: ['linux'],
    });
    expect(Object.keys(lock.packages['node_modules/legacy'])).toEqual(['version', 'integrity', 'dev']);
    expect(missingIntegrity(lock)).toEqual([]);
  });
});
