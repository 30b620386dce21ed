/* eslint-disable @typescript-eslint/no-explicit-any -- tests read untyped provider inputs */
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { modelKeys } from '../../workloads/core/layout';
import { backbonePart, SHARED_MODELS } from '../../workloads/core/model/catalog';
import { backboneFiles, resolveModelsDir } from '../backbone-files';
import { key, MockRun, runMocked, stackConfigFromYaml } from '../mock-run';
import { REPO_ROOT } from '../repo-artifacts';
import { envOf, ofType } from './helpers';

/**
 * The stack uploads the configured offline backbone (../shared/models/mobilenet_v2_100) to
 * the models bucket under a content-addressed prefix, and every service, job and pipeline
 * step loads it from there (gs://) with its own account.
 */
const BACKBONE_PREFIX = new RegExp(`^${modelKeys.backbonesPrefix}([0-9a-f]{32})/`);
const uploads = (run: MockRun) =>
  ofType(run, 'gcp:storage/bucketObject:BucketObject').filter((o) => BACKBONE_PREFIX.test(String(o.inputs.name)));

/** Every file of the three models mobilenet_v2_100 is made of, relative to the models directory. */
function v2100Files(): string[] {
  return ['features_graph', 'features', 'imagenet_head']
    .flatMap((part) => readdirSync(path.join(SHARED_MODELS, 'mobilenet_v2_100', part)).map((f) => `mobilenet_v2_100/${part}/${f}`))
    .sort();
}

function devWith(over: Record<string, unknown>): Record<string, string> {
  const cfg = stackConfigFromYaml('dev');
  for (const [k, v] of Object.entries(over)) cfg[key(k)] = typeof v === 'string' ? v : JSON.stringify(v);
  return cfg;
}

describe('the dev stack ships mobilenet_v2_100 to the models bucket', () => {
  let run: MockRun;
  beforeAll(async () => {
    run = await runMocked({ stack: 'dev', config: devWith({ model: { backbone: 'mobilenet_v2_100', inputSize: 224 } }) });
  });

  test('one object per model.json and weight shard of features_graph/, features/ and imagenet_head/, under one digest, from ../shared/models', () => {
    const objects = uploads(run);
    const digests = new Set(objects.map((o) => BACKBONE_PREFIX.exec(String(o.inputs.name))![1]));
    expect(digests.size).toBe(1);
    const [digest] = digests;
    const models = ofType(run, 'gcp:storage/bucket:Bucket').find((b) => String(b.inputs.name).endsWith('-models'))!;
    expect(
      objects
        .map((o) => ({ bucket: o.inputs.bucket, name: o.inputs.name, source: o.inputs.source, retained: o.retainOnDelete }))
        .sort((a, b) => (String(a.name) < String(b.name) ? -1 : 1)),
    ).toEqual(
      v2100Files().map((rel) => ({
        bucket: models.inputs.name,
        name: `${modelKeys.backbones(digest)}${rel}`,
        source: { asset: 'file', path: path.join(SHARED_MODELS, rel) },
        retained: true,
      })),
    );
    expect(objects.filter((o) => String(o.inputs.name).endsWith('.json')).map((o) => o.inputs.contentType)).toEqual(
      Array(3).fill('application/json'),
    );
  });

  test('every service, the job and every pipeline step load the backbone from that prefix, at 224 px', () => {
    const digest = BACKBONE_PREFIX.exec(String(uploads(run)[0].inputs.name))![1];
    const models = (run.outputs.buckets as Record<string, string>).models;
    const url = `gs://${models}/${modelKeys.backbones(digest)}mobilenet_v2_100`;
    expect(run.outputs.backboneUrl).toBe(url);
    const envs = [
      ...ofType(run, 'gcp:cloudrunv2/service:Service').map((s) => envOf(s)),
      ...ofType(run, 'gcp:cloudrunv2/job:Job').map((j) =>
        Object.fromEntries((j.inputs.template as any).template.containers[0].envs.map((e: any) => [e.name, e.value])),
      ),
    ];
    const spec = JSON.parse(
      String(ofType(run, 'gcp:storage/bucketObject:BucketObject').find((o) => o.name === 'pipeline-spec')!.inputs.content),
    );
    for (const exec of Object.values(spec.deploymentSpec.executors) as any[])
      envs.push(Object.fromEntries(exec.container.env.map((e: any) => [e.name, e.value])));
    expect(envs.length).toBeGreaterThanOrEqual(8); // 2 services, 1 job, 5 steps
    for (const env of envs)
      expect([env.CV_MODEL_BACKBONE, env.CV_MODEL_BACKBONE_URL, env.CV_MODEL_INPUT_SIZE]).toEqual(['mobilenet_v2_100', url, '224']);
  });

  test('the accounts that load it can read the models bucket: inference (serving, model zero) and pipeline (training, evaluation)', () => {
    const readers = ofType(run, 'gcp:storage/bucketIAMMember:BucketIAMMember')
      .filter((g) => String(g.inputs.bucket).endsWith('-models') && /objectViewer|objectUser/.test(String(g.inputs.role)))
      .map((g) => String(g.inputs.member).replace(/^serviceAccount:cv-dev-|@.*$/g, ''));
    expect(readers).toEqual(expect.arrayContaining(['inference', 'pipeline']));
  });
});

describe('backboneDir', () => {
  test('a relative directory is resolved from the project root, whatever the working directory', async () => {
    const cwd = process.cwd();
    const elsewhere = mkdtempSync(path.join(tmpdir(), 'cv-cwd-'));
    try {
      process.chdir(elsewhere);
      const run = await runMocked({
        stack: 'dev',
        config: devWith({ model: { backbone: 'mobilenet_v2_100' }, backboneDir: path.relative(REPO_ROOT, SHARED_MODELS) }),
      });
      expect(uploads(run).map((o) => (o.inputs.source as { path: string }).path)).toContain(
        path.join(SHARED_MODELS, 'mobilenet_v2_100/features_graph/model.json'),
      );
    } finally {
      process.chdir(cwd);
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  test('a directory without the backbone fails with the path it looked at', () => {
    expect(() => backboneFiles('mobilenet_v2_100', resolveModelsDir('no/such/dir'))).toThrow(
      `backbone mobilenet_v2_100: cannot read ${path.join(REPO_ROOT, 'no/such/dir/mobilenet_v2_100/features_graph/model.json')}`,
    );
  });

  test('an explicit model.backboneUrl is used as given and nothing is uploaded', async () => {
    const url = 'gs://elsewhere/mobilenet_v2_100';
    const run = await runMocked({ stack: 'dev', config: devWith({ model: { backbone: 'mobilenet_v2_100', backboneUrl: url } }) });
    expect(uploads(run)).toEqual([]);
    expect(run.outputs.backboneUrl).toBe(url);
  });
});

describe('the content address', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'cv-models-'));
    mkdirSync(path.join(dir, 'mobilenet_v2_035'));
    writeFileSync(
      path.join(dir, 'mobilenet_v2_035/model.json'),
      JSON.stringify({ weightsManifest: [{ paths: ['w1.bin', 'w2.bin'], weights: [] }] }),
    );
    writeFileSync(path.join(dir, 'mobilenet_v2_035/w1.bin'), 'one');
    writeFileSync(path.join(dir, 'mobilenet_v2_035/w2.bin'), 'two');
    writeFileSync(path.join(dir, 'mobilenet_v2_035/README.md'), 'not shipped');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a single-file backbone: its model.json and the shards it lists, nothing else; the URL names the model.json', () => {
    const f = backboneFiles('mobilenet_v2_035', dir)!;
    expect(f.files.map((x) => x.key)).toEqual(
      ['model.json', 'w1.bin', 'w2.bin'].map((n) => `${modelKeys.backbones(f.digest)}mobilenet_v2_035/${n}`),
    );
    expect(f.locationKey).toBe(`${modelKeys.backbones(f.digest)}mobilenet_v2_035/model.json`);
  });

  test('changes when a shard changes, and only then', () => {
    const before = backboneFiles('mobilenet_v2_035', dir)!.digest;
    writeFileSync(path.join(dir, 'mobilenet_v2_035/README.md'), 'still not shipped');
    expect(backboneFiles('mobilenet_v2_035', dir)!.digest).toBe(before);
    writeFileSync(path.join(dir, 'mobilenet_v2_035/w2.bin'), 'TWO');
    expect(backboneFiles('mobilenet_v2_035', dir)!.digest).not.toBe(before);
  });

  test('a backbone loaded from the web has nothing to ship', () => {
    expect(backboneFiles('mobilenet_v3_small', dir)).toBeNull();
  });
});

describe.each(['dev', 'prod'])('Pulumi.%s.yaml serves model zero from the first second', (stack) => {
  test('mobilenet_v2_100 (which has the ImageNet head model zero is made of) at 224 px, zero-shot on, loaded from the uploaded copy', async () => {
    const run = await runMocked({ stack });
    const inference = ofType(run, 'gcp:cloudrunv2/service:Service').find((s) => s.name === 'inference-service')!;
    const env = envOf(inference);
    const digest = BACKBONE_PREFIX.exec(String(uploads(run)[0]?.inputs.name))?.[1];
    expect({
      backbone: env.CV_MODEL_BACKBONE,
      inputSize: env.CV_MODEL_INPUT_SIZE,
      zeroShot: env.CV_MODEL_ZERO_SHOT,
      url: env.CV_MODEL_BACKBONE_URL,
      hasImagenetHead: backbonePart({ name: 'mobilenet_v2_100', url: env.CV_MODEL_BACKBONE_URL }, 'imagenetHead') !== null,
      uploaded: uploads(run).length,
    }).toEqual({
      backbone: 'mobilenet_v2_100',
      inputSize: '224',
      zeroShot: 'true',
      url: `gs://creature-vision-${stack}-cv-${stack}-models/${modelKeys.backbones(digest ?? '(none uploaded)')}mobilenet_v2_100`,
      hasImagenetHead: true,
      uploaded: v2100Files().length,
    });
  });
});
