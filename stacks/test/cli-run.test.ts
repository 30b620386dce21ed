import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { SHARED_MODELS } from '../../workloads/core/model/catalog';
import { runMocked, stackConfigFromYaml } from '../mock-run';
import { REPO_ROOT } from '../repo-artifacts';
import { MockEngine, startMockEngine } from './mock-engine';
import { languageHostCommand, programLocation, readPulumiProject, runLikeLanguageHost } from './pulumi-cli';

/**
 * The stack program run the way `pulumi preview` runs it: Pulumi.yaml's `main` and runtime
 * options decide the working directory, entry point and TypeScript settings
 * (stacks/test/pulumi-cli.ts), `@pulumi/pulumi/cmd/run` loads the program with ts-node
 * (type-checking it, as the CLI does by default) and talks gRPC to a mocked engine. It must
 * declare exactly what the in-process mocked run declares.
 */

describe('where the Pulumi CLI runs the program from (getPwdMain)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'cv-pwdmain-'));
    mkdirSync(path.join(dir, 'src'));
    writeFileSync(path.join(dir, 'src', 'index.ts'), '');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('no main: the project root, entry point from package.json; a directory: that directory; a file: its directory', () => {
    expect(programLocation(dir, undefined)).toEqual({ pwd: dir, entry: '.' });
    expect(programLocation(dir, 'src/')).toEqual({ pwd: path.join(dir, 'src'), entry: '.' });
    expect(programLocation(dir, 'src/index.ts')).toEqual({ pwd: path.join(dir, 'src'), entry: 'index.ts' });
  });

  test('this project runs from the directory of the tsconfig.json the repository type-checks with, entry stacks/index.ts', () => {
    const project = readPulumiProject();
    const { pwd, entry } = programLocation(REPO_ROOT, project.main);
    const { env } = languageHostCommand({ project, stack: 'dev', config: {}, address: '127.0.0.1:1', dryRun: true });
    // cmd/run reads PULUMI_NODEJS_TSCONFIG_PATH, else tsconfig.json, relative to its working directory.
    const tsconfig = path.resolve(pwd, env.PULUMI_NODEJS_TSCONFIG_PATH ?? 'tsconfig.json');
    expect({ tsconfig, exists: existsSync(tsconfig) }).toEqual({ tsconfig: path.join(REPO_ROOT, 'tsconfig.json'), exists: true });
    expect(env.PULUMI_NODEJS_TYPESCRIPT).toBe('true');
    // Entry `.` is package.json's "main".
    expect({ pwd, entry, main: JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).main }).toEqual({
      pwd: REPO_ROOT,
      entry: '.',
      main: 'stacks/index.ts',
    });
  });
});

const identity = (r: { type: string; name: string; parent?: string }) => `${r.type}  ${r.name}`;

describe.each(['dev', 'prod'])('the %s stack through @pulumi/pulumi/cmd/run', (stack) => {
  let engine: MockEngine;
  let exit: Awaited<ReturnType<typeof runLikeLanguageHost>>;
  const config = stackConfigFromYaml(stack);

  beforeAll(async () => {
    engine = await startMockEngine('creature-vision', stack, config);
    exit = await runLikeLanguageHost({ project: readPulumiProject(), stack, config, address: engine.address, dryRun: true });
  }, 300_000);
  afterAll(() => engine?.close());

  test('the program compiles, type-checks and exits 0 with no error or warning logged', () => {
    const problems = engine.logs.filter((l) => l.severity === 'error' || l.severity === 'warning').map((l) => l.message);
    expect({ code: exit.code, problems }).toEqual({ code: 0, problems: [] });
  });

  test('it declares the same resources, with the same inputs, as the in-process mocked run', async () => {
    const inProcess = await runMocked({ stack, config });
    expect(engine.resources.map(identity).sort()).toEqual(inProcess.resources.map(identity).sort());
    const byUrn = new Map(inProcess.resources.map((r) => [r.urn, r]));
    for (const r of engine.resources.filter((x) => x.custom)) {
      expect([r.urn, r.inputs, r.protect]).toEqual([r.urn, byUrn.get(r.urn)?.inputs, byUrn.get(r.urn)?.protect]);
    }
  });

  test('it uploads the backbone from the files in ../shared/models (assets as the CLI would send them)', () => {
    const uploads = engine.resources.filter((r) => r.type === 'gcp:storage/bucketObject:BucketObject' && r.name.startsWith('backbone-'));
    expect(uploads.map((r) => r.inputs.source)).toContainEqual({
      asset: 'file',
      path: path.join(SHARED_MODELS, 'mobilenet_v2_100/features_graph/model.json'),
    });
    expect(uploads).toHaveLength(11);
    expect(uploads.every((r) => r.retainOnDelete)).toBe(true);
    expect(engine.outputs().backboneUrl).toMatch(
      new RegExp(`^gs://creature-vision-${stack}-cv-${stack}-models/backbones/[0-9a-f]{32}/mobilenet_v2_100$`),
    );
  });

  test('the stack exports its outputs', () => {
    const outputs = engine.outputs();
    expect(outputs.serviceUrl).toMatch(new RegExp(`^https://cv-${stack}-inference-`));
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['serviceUrl', 'buckets', 'dataset', 'pipelineSpecUri']));
  });
});
