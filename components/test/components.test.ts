import { runProgramMocked } from '../../stacks/mock-run';
import { WorkloadService, WorkloadServiceArgs } from '../cloud-run-service';
import { DataLake } from '../data-lake';
import { GrafanaVm, GrafanaVmArgs } from '../grafana-vm';
import { ScheduledCalls } from '../scheduler';

/** Components on their own, under the same recording mocks the stack tests use. */
const CONFIG = { 'gcp:project': 'p-123456', 'gcp:region': 'europe-west1' };
const run = (program: () => unknown) => runProgramMocked('unit', CONFIG, program);

const serviceArgs: WorkloadServiceArgs = {
  project: 'p-123456',
  region: 'europe-west1',
  serviceName: 'svc',
  description: 'd',
  image: `r/i@sha256:${'a'.repeat(64)}`,
  serviceAccountEmail: 'svc@p-123456.iam.gserviceaccount.com',
  env: { B: '2', A: '1' },
  scaling: { minInstances: 0, maxInstances: 2, concurrency: 4, cpu: '1', memory: '512Mi', cpuIdle: true },
  probes: { startupPath: '/readyz', livenessPath: '/healthz', startupBudgetSeconds: 60 },
  deletionProtection: true,
  invokers: ['serviceAccount:s@p-123456.iam.gserviceaccount.com'],
  publicInvoker: false,
};

test('a private service: only the named invokers, env sorted, startup budget in probe periods', async () => {
  const { resources } = await run(() => new WorkloadService('svc', serviceArgs));
  const component = resources.find((r) => r.type === 'creature-vision:run:WorkloadService')!;
  const service = resources.find((r) => r.type === 'gcp:cloudrunv2/service:Service')!;
  expect(service.parent).toBe(component.urn);
  const c = (service.inputs.template as { containers: Record<string, any>[] }).containers[0]; // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(c.envs).toEqual([
    { name: 'A', value: '1' },
    { name: 'B', value: '2' },
  ]);
  expect(c.startupProbe).toMatchObject({ periodSeconds: 5, failureThreshold: 12 });
  const members = resources.filter((r) => r.type === 'gcp:cloudrunv2/serviceIamMember:ServiceIamMember').map((r) => r.inputs.member);
  expect(members).toEqual(['serviceAccount:s@p-123456.iam.gserviceaccount.com']);
});

// Bad arguments throw from the constructor before anything is registered (so no stack run is needed).
test('a service with min instances above max is refused', () => {
  expect(() => new WorkloadService('svc', { ...serviceArgs, scaling: { ...serviceArgs.scaling, minInstances: 3 } })).toThrow(
    'svc: minInstances (3) is greater than maxInstances (2)',
  );
});

test('the data lake protects its buckets when asked and grants per bucket', async () => {
  const { resources } = await run(
    () =>
      new DataLake('lake', {
        project: 'p-123456',
        location: 'EU',
        namePrefix: 'p-123456-cv-x',
        forceDestroy: false,
        protect: true,
        lifecycle: { rawNearlineAfterDays: 30, pipelineRunsExpireDays: 30, stagingExpireDays: 7, noncurrentModelsExpireDays: 30 },
        grants: { models: [{ role: 'roles/storage.objectViewer', member: 'serviceAccount:i@p-123456.iam.gserviceaccount.com' }] },
      }),
  );
  const buckets = resources.filter((r) => r.type === 'gcp:storage/bucket:Bucket');
  expect(buckets.map((b) => b.inputs.name).sort()).toEqual([
    'p-123456-cv-x-datasets',
    'p-123456-cv-x-models',
    'p-123456-cv-x-pipeline',
    'p-123456-cv-x-raw',
    'p-123456-cv-x-staging',
  ]);
  expect(buckets.every((b) => b.protect)).toBe(true);
  const grants = resources.filter((r) => r.type === 'gcp:storage/bucketIAMMember:BucketIAMMember');
  expect(grants.map((g) => g.inputs.bucket)).toEqual(['p-123456-cv-x-models']);
});

const grafanaArgs: GrafanaVmArgs = {
  project: 'p-123456',
  region: 'europe-west1',
  zone: 'europe-west1-b',
  prefix: 'cv-x',
  machineType: 'e2-small',
  publicIp: true,
  allowedSourceRanges: ['203.0.113.0/24'],
  serviceAccountEmail: 'g@p-123456.iam.gserviceaccount.com',
  adminPassword: 'from-config',
  files: {},
  deletionProtection: false,
};

test('Grafana with a public IP: external access config, no NAT, URL on the external address, configured password', async () => {
  const { resources, outputs } = await run(() => ({ url: new GrafanaVm('grafana', grafanaArgs).url }));
  const vm = resources.find((r) => r.type === 'gcp:compute/instance:Instance')!;
  expect(vm.inputs.networkInterfaces).toEqual([{ network: 'default', accessConfigs: [{}] }]);
  expect(resources.some((r) => r.type === 'gcp:compute/routerNat:RouterNat')).toBe(false);
  expect(resources.some((r) => r.type === 'random:index/randomPassword:RandomPassword')).toBe(false);
  expect(resources.find((r) => r.type === 'gcp:secretmanager/secretVersion:SecretVersion')!.inputs.secretData).toBe('from-config');
  expect(outputs.url).toBe('http://203.0.113.10:3000');
});

test('Grafana refuses an empty source range list', () => {
  expect(() => new GrafanaVm('grafana', { ...grafanaArgs, allowedSourceRanges: [] })).toThrow('give at least one CIDR range');
});

test('a scheduled call with a seconds field is refused before anything is created', () => {
  expect(
    () =>
      new ScheduledCalls('s', {
        project: 'p-123456',
        region: 'europe-west1',
        prefix: 'cv-x',
        timeZone: 'Etc/UTC',
        serviceAccountEmail: 'x@p-123456.iam.gserviceaccount.com',
        calls: [{ name: 'ingest', description: 'd', cron: '* * * * * *', method: 'GET', uri: 'https://x/predict', audience: 'https://x' }],
      }),
  ).toThrow('scheduled call ingest: schedule "* * * * * *" must be a 5-field cron');
});
