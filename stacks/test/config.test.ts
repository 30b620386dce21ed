import * as pulumi from '@pulumi/pulumi';
import { decodeConfigValue, parseStackConfig, readStackConfig, StackConfigError } from '../config';
import { stackConfigFromYaml } from '../mock-run';

const GCP = { project: 'creature-vision-dev', region: 'europe-west1' };
const INGEST = { ingest: { cron: '*/5 * * * *' }, trigger: { cron: '*/30 * * * *' }, model: { backbone: 'mobilenet_v3_small' } };

function problems(raw: Record<string, unknown>, provider: { project?: string; region?: string } = GCP): string[] {
  try {
    parseStackConfig({ ...INGEST, ...raw }, provider, 'dev');
  } catch (err) {
    if (err instanceof StackConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('stack config validation names the key, the value and what is accepted', () => {
  test('a negative instance count', () => {
    expect(problems({ cloudRun: { inference: { maxInstances: -1 } } })).toEqual([
      'creature-vision:cloudRun.inference.maxInstances = -1: must be ≥ 1',
    ]);
  });

  test('min instances above max instances', () => {
    expect(problems({ cloudRun: { trigger: { minInstances: 3, maxInstances: 1 } } })).toEqual([
      'creature-vision:cloudRun.trigger.minInstances = 3: minInstances must be ≤ maxInstances',
    ]);
  });

  test('a 6-field (seconds) cron, which Cloud Scheduler rejects', () => {
    expect(problems({ ingest: { cron: '*/10 * * * * *' } })).toEqual([
      'creature-vision:ingest.cron = "*/10 * * * * *": must be a 5-field cron (minute hour day-of-month month day-of-week) for Cloud Scheduler, got 6 field(s)',
    ]);
  });

  test('the preprocessing job: bad sizes, and engines the stack cannot honour', () => {
    expect(problems({ preprocessingJob: { tasks: 0, memory: '2GB' } })).toEqual([
      'creature-vision:preprocessingJob.tasks = 0: must be ≥ 1',
      'creature-vision:preprocessingJob.memory = "2GB": must be a memory quantity like 512Mi or 2Gi',
    ]);
    expect(problems({ preprocessingJob: { enabled: false }, preprocessing: { engine: 'cloud-run-job' } })).toEqual([
      'creature-vision:preprocessing.engine = "cloud-run-job": the stack creates no preprocessing job (preprocessingJob.enabled = false); enable it or use in-process',
    ]);
    expect(problems({ preprocessing: { engine: 'local-tasks' } })).toHaveLength(1);
    expect(problems({ preprocessingJob: { enabled: false } })).toEqual([]);
  });

  test('staged preprocessing parts must outlive the longest run the job allows', () => {
    expect(problems({ dataLake: { stagingExpireDays: 1 } })).toEqual([
      'creature-vision:dataLake.stagingExpireDays = 1: must be ≥ 2, or a running preprocessing job’s staged parts could expire before its commit (1 wave(s) × 3600 s × 3 attempt(s))'.replace(
        '’',
        "'",
      ),
    ]);
    // 8 tasks two at a time, 1 day each, no retries: 4 waves of a day, plus a day.
    expect(
      problems({
        dataLake: { stagingExpireDays: 4 },
        preprocessingJob: { tasks: 8, parallelism: 2, taskTimeoutSeconds: 86_400, maxRetries: 0 },
      }),
    ).toEqual([expect.stringMatching(/^creature-vision:dataLake\.stagingExpireDays = 4: must be ≥ 5,/)]);
  });

  test('Grafana: pinned release numbers and IAM principals for the IAP tunnel', () => {
    expect(problems({ grafana: { version: 'latest', iapTunnelMembers: ['ana@example.com'] } }).sort()).toEqual([
      'creature-vision:grafana.iapTunnelMembers.0 = "ana@example.com": must be an IAM principal like group:ml@example.com',
      'creature-vision:grafana.version = "latest": must be a release number like 12.2.0',
    ]);
  });

  test('ingestion calls per tick are bounded (one scheduler job each)', () => {
    expect(problems({ ingest: { cron: '* * * * *', perTick: 50 } })).toEqual([
      'creature-vision:ingest.perTick = 50: must be ≤ 10 on Google Cloud (one Cloud Scheduler job per call per tick)',
    ]);
  });

  test('the workload image’s base: a Debian-slim Node.js image, optionally pinned by digest', () => {
    expect(problems({ build: { baseImage: `node:22-bookworm-slim@sha256:${'a'.repeat(64)}` } })).toEqual([]);
    expect(problems({ build: { baseImage: 'node:22-alpine' } })).toEqual([
      'creature-vision:build.baseImage = "node:22-alpine": must be a Debian-slim Node.js image such as node:22-bookworm-slim, optionally @sha256:<64 hex digits>',
    ]);
  });

  test('the workloads’ own rules apply to workload sections', () => {
    expect(problems({ training: { epochs: 0 } })).toEqual(['creature-vision:training.epochs = 0: must be greater than 0']);
  });

  test('misspelt keys at the top level, in infrastructure sections and in workload sections', () => {
    const p = problems({ cloudrun: {}, grafana: { publicIP: true }, training: { epochz: 3 } });
    expect(p).toContainEqual(expect.stringMatching(/^creature-vision:cloudrun: unknown key; known keys are .*cloudRun/));
    expect(p).toContain('creature-vision:grafana: unknown key(s) publicIP');
    expect(p).toContain('creature-vision:training.epochz: unknown key');
  });

  test('the public service’s per-client limits and trusted proxy hops are validated like any workload key', () => {
    expect(problems({ inference: { trustProxyHops: -1, rateLimit: { perMinute: 1.5, uploadsPerDay: 100 } } })).toEqual([
      expect.stringMatching(/^creature-vision:inference\.trustProxyHops = -1: /),
      expect.stringMatching(/^creature-vision:inference\.rateLimit\.perMinute = 1\.5: /),
    ]);
    expect(problems({ inference: { rateLimit: { perMinut: 60 } } })).toContain('creature-vision:inference.rateLimit.perMinut: unknown key');
  });

  test('an offline backbone needs no URL (the stack uploads it); an explicit URL must be gs:// or https://', () => {
    expect(problems({ model: { backbone: 'mobilenet_v2_035' } })).toEqual([]);
    expect(problems({ model: { backbone: 'mobilenet_v2_100' } })).toEqual([]);
    expect(problems({ model: { backbone: 'mobilenet_v2_100', backboneUrl: 'gs://my-models/mobilenet_v2_100/' } })).toEqual([]);
    expect(
      problems({ model: { backbone: 'mobilenet_v2_100', backboneUrl: 'https://storage.googleapis.com/my-models/mobilenet_v2_100/' } }),
    ).toEqual([]);
    expect(problems({ model: { backboneUrl: '/tmp/model.json' } })).toEqual([
      'creature-vision:model.backboneUrl = "/tmp/model.json": must be a gs:// or https:// URL on Google Cloud (empty: the stack uploads the backbone from backboneDir)',
    ]);
    expect(problems({ backboneDir: '' })).toEqual(['creature-vision:backboneDir = "": must name a directory']);
  });

  test('sections the stack derives itself cannot be set', () => {
    expect(problems({ storage: { backend: 'local' } })).toEqual([
      'creature-vision:storage: set by the stack itself (from the buckets, dataset, images and accounts it creates); remove it',
    ]);
  });

  test('alerts enabled without a recipient, bad CIDR, bad memory quantity', () => {
    const p = problems({
      alerts: { enabled: true },
      grafana: { allowedSourceRanges: ['0.0.0.0'] },
      cloudRun: { inference: { memory: '2GB' } },
    });
    expect(p).toContain(
      'creature-vision:alerts.notificationEmails = (missing): alerts are enabled: give at least one notificationEmails entry',
    );
    expect(p).toContain('creature-vision:grafana.allowedSourceRanges.0 = "0.0.0.0": must be an IPv4 CIDR range like 203.0.113.0/24');
    expect(p).toContain('creature-vision:cloudRun.inference.memory = "2GB": must be a memory quantity like 512Mi or 2Gi');
  });

  test('the provider project and region are required', () => {
    expect(problems({}, {})).toEqual([
      'gcp:project is not set: `pulumi config set gcp:project <project-id>`',
      'gcp:region is not set: `pulumi config set gcp:region <region>`, e.g. europe-west1',
    ]);
  });

  test('the error message lists every problem', () => {
    expect(() => parseStackConfig({ ...INGEST, publicInvoker: 'yes' }, GCP, 'dev')).toThrow(
      'invalid stack configuration:\n  - creature-vision:publicInvoker = "yes": Invalid input: expected boolean, received string',
    );
  });
});

describe('the checked-in stacks', () => {
  test.each(['dev', 'prod'])('Pulumi.%s.yaml is valid', (stack) => {
    const flat = stackConfigFromYaml(stack);
    const raw = Object.fromEntries(
      Object.entries(flat)
        .filter(([k]) => k.startsWith('creature-vision:'))
        .map(([k, v]) => [k.slice('creature-vision:'.length), decodeConfigValue(v)]),
    );
    const cfg = parseStackConfig(raw, { project: flat['gcp:project'], region: flat['gcp:region'] }, stack);
    expect(cfg.prefix).toBe(`cv-${stack}`);
    expect(cfg.deletionProtection).toBe(stack === 'prod');
  });

  test('defaults are the safe ones: protection on, private, no force-destroy', () => {
    const cfg = parseStackConfig(INGEST, GCP, 'fork');
    expect(cfg).toMatchObject({
      deletionProtection: true,
      publicInvoker: false,
      dataLake: { forceDestroy: false, location: 'europe-west1' },
      prefix: 'cv-fork',
    });
    expect(cfg.grafana).toMatchObject({ publicIp: false, zone: 'europe-west1-b', machineType: 'e2-small' });
  });
});

describe('through Pulumi config, as `pulumi preview` runs it', () => {
  beforeAll(() =>
    pulumi.runtime.setMocks({ newResource: (a) => ({ id: a.name, state: a.inputs }), call: () => ({}) }, 'creature-vision', 'dev'),
  );

  test('readStackConfig decodes structured and scalar values and reads the secret password', async () => {
    pulumi.runtime.setAllConfig(
      {
        'gcp:project': 'creature-vision-dev',
        'gcp:region': 'europe-west1',
        'creature-vision:cloudRun': JSON.stringify({ inference: { maxInstances: 4 } }),
        'creature-vision:publicInvoker': 'true',
        'creature-vision:ingest': JSON.stringify({ cron: '*/5 * * * *' }),
        'creature-vision:trigger': JSON.stringify({ cron: '0 * * * *' }),
        'creature-vision:model': JSON.stringify({ backbone: 'mobilenet_v3_small' }),
        'creature-vision:grafanaAdminPassword': 's3cret-from-config',
      },
      ['creature-vision:grafanaAdminPassword'],
    );
    const cfg = readStackConfig();
    expect(cfg.cloudRun.inference.maxInstances).toBe(4);
    expect(cfg.publicInvoker).toBe(true);
    expect(await new Promise((r) => cfg.grafanaAdminPassword!.apply(r))).toBe('s3cret-from-config');
  });

  test('importing the program with a bad value fails before any resource is declared', () => {
    pulumi.runtime.setAllConfig({
      'gcp:project': 'creature-vision-dev',
      'gcp:region': 'europe-west1',
      'creature-vision:cloudRun': JSON.stringify({ inference: { maxInstances: -1 } }),
      'creature-vision:ingest': JSON.stringify({ cron: '*/5 * * * *' }),
      'creature-vision:trigger': JSON.stringify({ cron: '0 * * * *' }),
    });
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the program must load after the config is set
      expect(() => require('../index')).toThrow('creature-vision:cloudRun.inference.maxInstances = -1: must be ≥ 1');
    });
  });
});
