import * as path from 'node:path';

/** Repository root (tests live in workloads/core/test). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
/** The shared offline data, cloned next to the repository (`../shared`). */
export const SHARED = path.resolve(REPO_ROOT, '..', 'shared');
export const DOGS_DIR = path.join(SHARED, 'datasets', 'dogs');
