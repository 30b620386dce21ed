/**
 * Keeps package-lock.json complete for `npm ci` on every platform, with an integrity hash
 * on every entry:
 *  - adds entries for platform-specific optional packages (`@duckdb/node-bindings-darwin-arm64`,
 *    `@unrs/resolver-binding-win32-x64-msvc`, ...) that `npm install` left out because it
 *    could not fetch them: `npm ci` refuses that same lock as "out of sync" (npm/cli#9846).
 *    An entry with the package's version and its `os`/`cpu`/`libc` lets `npm ci` accept the
 *    lock and skip the package on every other platform, as for any other platform binary;
 *  - gives every entry without one its `integrity` (sha512 of the registry tarball, from
 *    the registry's metadata via `npm view`), so a tampered or substituted tarball fails
 *    `npm ci` on every platform, not only where the package happens to be installed.
 *
 *   node .ci/complete-lockfile.js [package-lock.json]           # completes the lock; no-op (no network) when complete
 *   node .ci/complete-lockfile.js --check [package-lock.json]   # lists entries without an integrity hash; exit 1 if any
 */
// A plain CommonJS script: it runs before npm ci, with nothing installed yet.
/* eslint-disable @typescript-eslint/no-require-imports */
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');

const OSES = ['darwin', 'linux', 'win32', 'android', 'freebsd', 'openbsd', 'netbsd', 'sunos', 'aix', 'openharmony'];
const CPUS = ['arm64', 'x64', 'ia32', 'arm', 'ppc64', 'riscv64', 's390x', 'loong64', 'mips64el', 'wasm32'];

/** Platform fields from the conventional package name (`<pkg>-<os>-<cpu>[-<abi>]`). */
function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = OSES.find((o) => parts.includes(o));
  const cpu = CPUS.find((c) => parts.includes(c));
  const abi = parts.slice(parts.indexOf(cpu) + 1).join('-');
  const libc = os === 'linux' ? (/musl/.test(abi) ? 'musl' : /gnu/.test(abi) ? 'glibc' : undefined) : undefined;
  return { os, cpu, libc };
}

/** The package name of a lock entry path (`node_modules/a/node_modules/@s/b` → `@s/b`). */
const nameOf = (where) => where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length);

/** Entries the registry must vouch for: installed from it (not the root, links, bundled files or git/file sources). */
function needsIntegrity(where, entry) {
  if (!where || entry.link || entry.inBundle) return false;
  return !entry.resolved || /^https?:\/\//.test(entry.resolved);
}

/** The registry's integrity hash of name@version, from its metadata (what `npm install` records). */
function registryIntegrity(name, version) {
  const out = execFileSync('npm', ['view', `${name}@${version}`, 'dist.integrity', '--json'], { encoding: 'utf8' }).trim();
  const integrity = out ? JSON.parse(out) : undefined;
  if (typeof integrity !== 'string' || !/^sha512-/.test(integrity)) {
    throw new Error(`the registry has no sha512 integrity for ${name}@${version} (npm view answered ${JSON.stringify(out)})`);
  }
  return integrity;
}

/** Completes `lock` in place; `lookup(name, version)` gives an integrity hash. Returns what it changed. */
function completeLockfile(lock, lookup = registryIntegrity) {
  const packages = lock.packages || {};
  const added = [];
  for (const [where, entry] of Object.entries(packages)) {
    for (const [dep, version] of Object.entries(entry.optionalDependencies || {})) {
      // Resolution as npm does it: next to the dependent first, then at the top.
      const nested = where ? `${where}/node_modules/${dep}` : `node_modules/${dep}`;
      if (packages[nested] || packages[`node_modules/${dep}`]) continue;
      const { os, cpu, libc } = platformOf(dep);
      // Only platform binaries are completed; any other missing package is a real problem for npm ci to report.
      if (!os && !cpu) continue;
      if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version)) continue;
      packages[`node_modules/${dep}`] = {
        version,
        ...(cpu ? { cpu: [cpu] } : {}),
        ...(entry.dev ? { dev: true } : {}),
        ...(libc ? { libc: [libc] } : {}),
        optional: true,
        ...(os ? { os: [os] } : {}),
      };
      added.push(`${dep}@${version} (${[os, cpu, libc].filter(Boolean).join(' ')})`);
    }
  }
  const hashed = [];
  for (const [where, entry] of Object.entries(packages)) {
    if (!needsIntegrity(where, entry) || entry.integrity) continue;
    // Key order as npm writes it (version, resolved, integrity, then the rest), so npm leaves the entry as is.
    const { version, resolved, ...rest } = entry;
    packages[where] = { version, ...(resolved ? { resolved } : {}), integrity: lookup(nameOf(where), version), ...rest };
    hashed.push(`${nameOf(where)}@${version}`);
  }
  // Keep npm's own ordering: entries sorted by path, the root ("") first.
  lock.packages = Object.fromEntries(
    Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b, 'en'))),
  );
  return { added, hashed };
}

/** Entries that should carry an integrity hash and do not. */
function missingIntegrity(lock) {
  return Object.entries(lock.packages || {})
    .filter(([where, entry]) => needsIntegrity(where, entry) && !entry.integrity)
    .map(([where, entry]) => `${nameOf(where)}@${entry.version}`);
}

function main() {
  const args = process.argv.slice(2);
  const check = args[0] === '--check';
  const file = (check ? args[1] : args[0]) || 'package-lock.json';
  const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (check) {
    const missing = missingIntegrity(lock);
    if (missing.length === 0) return console.log(`${file}: every entry has an integrity hash`);
    console.error(`${file}: ${missing.length} entries have no integrity hash (run node .ci/complete-lockfile.js):`);
    for (const m of missing) console.error(`  ${m}`);
    process.exit(1);
  }
  const { added, hashed } = completeLockfile(lock);
  if (added.length === 0 && hashed.length === 0) return console.log(`${file}: complete, every entry has an integrity hash`);
  fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
  if (added.length) console.log(`${file}: added ${added.length} optional platform package entries npm install left out:`);
  for (const a of added) console.log(`  ${a}`);
  if (hashed.length) console.log(`${file}: recorded the registry's integrity hash of ${hashed.length} entries:`);
  for (const h of hashed) console.log(`  ${h}`);
}

if (require.main === module) main();
module.exports = { completeLockfile, missingIntegrity };
