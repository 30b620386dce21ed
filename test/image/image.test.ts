import ignore from '@balena/dockerignore';
import { spawnSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DockerfileParser, type Instruction, type ModifiableInstruction } from 'dockerfile-ast';
import { buildWorkloads } from '../../scripts/build';
import { COMPILED_DIR, compiledFile, containerArgv, ENTRY_POINTS, IMAGE_WORKDIR } from '../../workloads/core/entry-points';

/**
 * The workload image, checked without a Docker engine: the Dockerfile parsed into its
 * stages and instructions, the build context filtered by .dockerignore with Docker's own
 * matching rules, and (CV_E2E) the build stage's `npm run build` actually run and its
 * compiled entry points started the way the containers start them.
 */
const REPO = path.resolve(__dirname, '../..');
const DOCKERFILE = path.join(REPO, 'workloads/Dockerfile');
const dockerfile = DockerfileParser.parse(readFileSync(DOCKERFILE, 'utf8'));
const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** Instructions per stage (split at FROM), with `--flags` apart from the arguments. */
function stages(): Array<{ from: string; name: string | null; instructions: Instruction[] }> {
  const out: Array<{ from: string; name: string | null; instructions: Instruction[] }> = [];
  for (const i of dockerfile.getInstructions()) {
    if (i.getKeyword() === 'FROM')
      out.push({ from: i.getArguments()[0].getValue(), name: i.getArguments()[2]?.getValue() ?? null, instructions: [] });
    else out[out.length - 1]?.instructions.push(i);
  }
  return out;
}
const of = (instructions: Instruction[], keyword: string) => instructions.filter((i) => i.getKeyword() === keyword);
const args = (i: Instruction): string[] => i.getArguments().map((a) => a.getValue());
/** `--from=build` → `from=build` (dockerfile-ast keeps flags apart from the arguments). */
const flagged = (i: Instruction): string[] =>
  ((i as Partial<ModifiableInstruction>).getFlags?.() ?? []).map((f) => `${f.getName()}=${f.getValue() ?? ''}`);
const plain = (i: Instruction): string[] => args(i);
const runText = (instructions: Instruction[]): string =>
  of(instructions, 'RUN')
    .map((i) => i.getArgumentsContent() ?? '')
    .join('\n');

describe('workloads/Dockerfile', () => {
  test('two stages on one supported Node LTS, Debian slim, the base pinnable by digest (build arg NODE_IMAGE)', () => {
    const base = dockerfile
      .getInitialARGs()
      .find((a) => a.getProperty()?.getName() === 'NODE_IMAGE')
      ?.getProperty()
      ?.getValue();
    const m = /^node:(\d+)-(bookworm|trixie)-slim(@sha256:[0-9a-f]{64})?$/.exec(base ?? '');
    expect(m).not.toBeNull();
    const major = Number(m![1]);
    // Even majors are the LTS lines; 20 reached end of life on 2026-04-30.
    expect(major % 2 === 0 && major >= 22).toBe(true);
    // @tensorflow/tfjs-node 4.22.0 calls util.isNullOrUndefined, which Node 23 removed (tensorflow/tfjs#8609).
    const lock = JSON.parse(readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version: string }>;
    };
    if (lock.packages['node_modules/@tensorflow/tfjs-node'].version === '4.22.0') expect(major).toBeLessThan(23);
    expect(stages().map((s) => [s.from, s.name])).toEqual([
      ['${NODE_IMAGE}', 'build'],
      ['${NODE_IMAGE}', null],
    ]);
  });

  test('the build stage compiles with `npm run build`, after a lockfile install that runs no install script', () => {
    const [build] = stages();
    const run = runText(build.instructions);
    expect(run).toMatch(/npm ci --ignore-scripts/);
    expect(run).toMatch(/npm run build/);
    expect(run).not.toMatch(/npm install/);
  });

  test('the runtime stage: production dependencies from the lockfile, one install script, compiled JavaScript, the unprivileged user, CMD from the registry', () => {
    const [, runtime] = stages();
    const ins = runtime.instructions;
    expect(of(ins, 'WORKDIR').map(args)).toEqual([[IMAGE_WORKDIR]]);
    const run = runText(ins);
    expect(run).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(run).toMatch(/npm rebuild @tensorflow\/tfjs-node\b/);
    // An optional dependency whose download failed would leave the image on WASM without a word: the build checks one op.
    expect(run).toMatch(/require\('@tensorflow\/tfjs-node'\)\.square/);
    expect(run).not.toMatch(/npm install|tsx/);
    const fromBuild = of(ins, 'COPY').filter((c) => flagged(c).includes('from=build'));
    expect(fromBuild.map(plain)).toEqual([[`/src/${COMPILED_DIR}`, COMPILED_DIR]]);
    // Nothing of the source tree reaches the runtime stage except the lockfile pair.
    const fromContext = of(ins, 'COPY').filter((c) => !flagged(c).some((f) => f.startsWith('from=')));
    expect(fromContext.flatMap((c) => plain(c).slice(0, -1))).toEqual(['package.json', 'package-lock.json', '.ci/complete-lockfile.js']);
    const users = of(ins, 'USER');
    expect(users.map(args)).toEqual([['node']]);
    // Everything after USER runs as that user; nothing after it may need root.
    expect(ins.slice(ins.indexOf(users[0])).map((i) => i.getKeyword())).toEqual(['USER', 'CMD']);
    expect(of(ins, 'ENTRYPOINT')).toEqual([]);
    const cmd = of(ins, 'CMD')[0] as Instruction & { getJSONStrings(): Array<{ getJSONValue(): string }> };
    expect(cmd.getJSONStrings().map((j) => j.getJSONValue())).toEqual(containerArgv(ENTRY_POINTS.inferenceService));
  });

  test('.dockerignore sends exactly what the Dockerfile copies, and never the CI credentials file', async () => {
    const rules = ignore().add(readFileSync(path.join(REPO, '.dockerignore'), 'utf8'));
    const tracked = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: REPO, encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean);
    // What a CI workspace or a developer's checkout also has, untracked.
    const untracked = [
      'gha-creds-3f9c0e1a2b4d5e6f.json',
      'workloads/gha-creds-00aa.json',
      'node_modules/fastify/package.json',
      'dist/workloads/inference/main.js',
      '.creature-vision/raw/images/a.jpg',
      'test-results/jest-results.json',
      '.pulumi/stacks/dev.json',
      'workloads/inference/notes.md',
    ];
    const sent = new Set(rules.filter([...tracked, ...untracked]));
    const copied = stages()
      .flatMap((s) => of(s.instructions, 'COPY'))
      .filter((c) => !flagged(c).some((f) => f.startsWith('from=')))
      .flatMap((c) => plain(c).slice(0, -1));
    const under = (file: string, src: string): boolean => file === src || file.startsWith(`${src}/`);
    for (const file of untracked) expect([file, sent.has(file)]).toEqual([file, false]);
    for (const file of sent) expect([file, copied.some((src) => under(file, src))]).toEqual([file, true]);
    for (const src of copied) expect([src, [...sent].some((f) => under(f, src))]).toEqual([src, true]);
    // Within what is copied, tests stay out (they change often and the image never runs them).
    expect([...sent].filter((f) => /(^|\/)test\//.test(f))).toEqual([]);
    expect(sent.has('workloads/inference/static/index.html')).toBe(true);
    expect(sent.has('pipeline-specs/compiled/continual-learning.json')).toBe(true);
  });
});

const maybe = process.env.CV_E2E ? describe : describe.skip;

/** The build stage for real: `npm run build` (scripts/build.ts), then the compiled entry points as the containers start them. */
maybe('the build (npm run build) and its compiled entry points', () => {
  let app: string;
  beforeAll(async () => {
    // Laid out like the image's working directory: dist/ from the build, node_modules beside it.
    app = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-image-app-'));
    await buildWorkloads(path.join(app, COMPILED_DIR));
    await fs.symlink(path.join(REPO, 'node_modules'), path.join(app, 'node_modules'));
  }, 240_000);
  afterAll(() => fs.rm(app, { recursive: true, force: true }));

  test('every package the compiled workloads require is a production dependency (the image installs no others)', async () => {
    const required = new Set<string>();
    const walk = async (dir: string): Promise<void> => {
      for (const e of await fs.readdir(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.name.endsWith('.js')) {
          const text = await fs.readFile(p, 'utf8');
          for (const [, spec] of text.matchAll(/require(?:\.resolve)?\(["']([^"'.][^"']*)["']\)/g)) {
            required.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
          }
        }
      }
    };
    await walk(path.join(app, COMPILED_DIR));
    const production = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.optionalDependencies ?? {})]);
    const builtin = new Set(builtinModules);
    // tsx: only required for a `.ts` worker entry, which a build has none of (checked below).
    const missing = [...required].filter((r) => !r.startsWith('node:') && !builtin.has(r) && !production.has(r) && r !== 'tsx');
    expect(missing).toEqual([]);
    expect(required.has('@tensorflow/tfjs-node')).toBe(true);
  });

  test('each compiled entry point starts without tsx, from the image working directory, and answers a bad flag with a usage error', () => {
    const commandLines = new Map(
      Object.values(ENTRY_POINTS)
        .filter((e) => e !== ENTRY_POINTS.inferenceService)
        .map((e) => [compiledFile(e.source), e.args]),
    );
    for (const [file, modeArgs] of commandLines) {
      const r = spawnSync(process.execPath, [file, ...modeArgs, '--no-such-flag'], {
        cwd: app,
        env: { PATH: process.env.PATH, HOME: os.tmpdir(), CV_LOG_LEVEL: 'warn' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect([file, r.status, r.stderr]).toEqual([file, 2, expect.stringMatching(/Unknown option '--no-such-flag'/)]);
      expect(r.stderr).not.toMatch(/tsx/);
    }
  }, 120_000);
});
