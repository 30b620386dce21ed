/**
 * Completes package-lock.json with entries for platform-specific optional packages
 * (`@duckdb/node-bindings-darwin-arm64`, `@unrs/resolver-binding-win32-x64-msvc`, ...)
 * that the registry reachable here does not serve.
 *
 * Why: `npm install` skips an optional dependency it cannot fetch and leaves it out of the
 * lock, and then `npm ci` refuses that same lock as "out of sync" (npm/cli#9846). An entry
 * that records the package's version with its `os`/`cpu`/`libc` lets `npm ci` accept the
 * lock and skip the package on every other platform, exactly as for any other platform
 * binary. It changes nothing that is installed here.
 *
 *   node .ci/complete-lockfile.js [package-lock.json]   # prints what it added; no-op when complete
 */
// A plain CommonJS script: it runs before npm ci, with nothing installed yet.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fs = require('node:fs');

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

function main() {
  const file = process.argv[2] || 'package-lock.json';
  const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
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
      // Key order as npm writes it (version, then alphabetical), so npm leaves the entry as is.
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
  if (added.length === 0) {
    console.log(`${file}: every optional platform package has an entry`);
    return;
  }
  // Keep npm's own ordering: entries sorted by path, the root ("") first.
  lock.packages = Object.fromEntries(
    Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b, 'en'))),
  );
  fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
  console.log(`${file}: added ${added.length} optional platform package entries the registry does not serve here:`);
  for (const a of added) console.log(`  ${a}`);
}

main();
