import * as pulumi from '@pulumi/pulumi';
import { runProgramMocked } from '../../stacks/mock-run';
import { grantNames, RoleGrant } from '../base';
import { WorkloadService, WorkloadServiceArgs } from '../cloud-run-service';
import { DataLake } from '../data-lake';
import { GrafanaVm, GrafanaVmArgs } from '../grafana-vm';
import { DEFAULT_JOB_ARGS, PreprocessingJob, PreprocessingJobArgs } from '../preprocessing-job';
import { ScheduledCalls } from '../scheduler';

/** Components on their own, under the same recording mocks the stack tests use. */
const CONFIG = { 'gcp:project': 'p-123456', 'gcp:region': 'europe-west1' };
const run = (program: () => unknown) => runProgramMocked('unit', CONFIG, program);
const LIFECYCLE = {
  rawNearlineAfterDays: 30,
  unlabelledUploadsExpireDays: 30,
  pipelineRunsExpireDays: 30,
  stagingExpireDays: 7,
  noncurrentModelsExpireDays: 30,
};

const serviceArgs: WorkloadServiceArgs = {
  project: 'p-123456',
  region: 'europe-west1',
  serviceName: 'svc',
  description: 'd',
  image: `r/i@sha256:${'a'.repeat(64)}`,
  serviceAccountEmail: 'svc@p-123456.iam.gserviceaccount.com',
  env: { B: '2', A: '1' },
  scaling: { minInstances: 0, maxInstances: 2, concurrency: 4, cpu: '1', memory: '512Mi', cpuIdle: true },
  probes: { startupPath: '/healthz', livenessPath: '/healthz', startupBudgetSeconds: 60 },
  deletionProtection: true,
  invokers: [{ member: 'serviceAccount:s@p-123456.iam.gserviceaccount.com' }],
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
        lifecycle: LIFECYCLE,
        grants: { models: [{ role: 'roles/storage.objectViewer', member: 'serviceAccount:i@p-123456.iam.gserviceaccount.com' }] },
      }),
  );
  const buckets = resources.filter((r) => r.type === 'gcp:storage/bucket:Bucket');
  expect(buckets.map((b) => b.inputs.name).sort()).toEqual([
    'p-123456-cv-x-datasets',
    'p-123456-cv-x-models',
    'p-123456-cv-x-pipeline',
    'p-123456-cv-x-raw',
  ]);
  expect(buckets.every((b) => b.protect)).toBe(true);
  const grants = resources.filter((r) => r.type === 'gcp:storage/bucketIAMMember:BucketIAMMember');
  expect(grants.map((g) => g.inputs.bucket)).toEqual(['p-123456-cv-x-models']);
});

describe('IAM bindings are named by role and member, never by position', () => {
  const lakeArgs = (grants: RoleGrant[]) => ({
    project: 'p-123456',
    location: 'EU',
    namePrefix: 'p-123456-cv-x',
    forceDestroy: true,
    protect: false,
    lifecycle: LIFECYCLE,
    grants: { raw: grants },
  });
  const reader: RoleGrant = {
    role: 'roles/storage.objectViewer',
    member: 'serviceAccount:t@p-123456.iam.gserviceaccount.com',
    memberName: 'trigger',
  };
  const writer: RoleGrant = {
    role: 'roles/storage.objectUser',
    member: 'serviceAccount:i@p-123456.iam.gserviceaccount.com',
    memberName: 'inference',
  };
  const bindings = async (program: () => unknown) =>
    (await run(program)).resources
      .filter((r) => /IAMMember|IamMember/.test(r.type))
      .map((r) => `${r.name} ${r.inputs.role} ${r.inputs.member}`);

  test('adding a grant in front of the others adds one binding and renames none', async () => {
    const before = await bindings(() => new DataLake('lake', lakeArgs([reader])));
    const after = await bindings(() => new DataLake('lake', lakeArgs([writer, reader])));
    expect(before).toEqual([
      'lake-raw-storage-objectViewer-trigger roles/storage.objectViewer serviceAccount:t@p-123456.iam.gserviceaccount.com',
    ]);
    expect(after.filter((b) => !before.includes(b))).toEqual([
      'lake-raw-storage-objectUser-inference roles/storage.objectUser serviceAccount:i@p-123456.iam.gserviceaccount.com',
    ]);
  });

  test('making a service public adds the allUsers binding and keeps the named invokers’', async () => {
    const before = await bindings(() => new WorkloadService('svc', serviceArgs));
    const after = await bindings(() => new WorkloadService('svc', { ...serviceArgs, publicInvoker: true }));
    expect(after.filter((b) => !before.includes(b))).toEqual(['svc-run-invoker-allusers roles/run.invoker allUsers']);
    expect(after).toEqual(expect.arrayContaining(before));
  });

  test('a member the stack computes needs a name, and one role twice for one member is refused', () => {
    expect(() => grantNames('x', [{ role: 'roles/a', member: pulumi.output('serviceAccount:s') }])).toThrow('needs a memberName');
    expect(() => grantNames('x', [reader, { ...reader }])).toThrow('IAM grant x-storage-objectViewer-trigger is given twice');
  });
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
  grafanaVersion: '12.2.0',
  bigqueryPluginVersion: '3.2.0',
};

test('Grafana with a public IP: external access config, no NAT, URL on the external address, configured password', async () => {
  const { resources, outputs } = await run(() => ({ url: new GrafanaVm('grafana', grafanaArgs).url }));
  const vm = resources.find((r) => r.type === 'gcp:compute/instance:Instance')!;
  expect(vm.inputs.networkInterfaces).toEqual([{ network: 'default', accessConfigs: [{}] }]);
  expect(resources.filter((r) => r.type === 'gcp:iap/tunnelInstanceIAMMember:TunnelInstanceIAMMember')).toEqual([]);
  expect(resources.some((r) => r.type === 'gcp:compute/routerNat:RouterNat')).toBe(false);
  expect(resources.some((r) => r.type === 'random:index/randomPassword:RandomPassword')).toBe(false);
  expect(resources.find((r) => r.type === 'gcp:secretmanager/secretVersion:SecretVersion')!.inputs.secretData).toBe('from-config');
  expect(outputs.url).toBe('http://203.0.113.10:3000');
});

test('Grafana on a configured network and subnetwork, reachable through IAP by the configured members only', async () => {
  const { resources } = await run(
    () =>
      void new GrafanaVm('grafana', {
        ...grafanaArgs,
        publicIp: false,
        network: 'projects/p-123456/global/networks/shared',
        subnetwork: 'projects/p-123456/regions/europe-west1/subnetworks/tools',
        iapTunnelMembers: ['group:ml@example.com', 'user:ana@example.com'],
      }),
  );
  const vm = resources.find((r) => r.type === 'gcp:compute/instance:Instance')!;
  expect(vm.inputs.networkInterfaces).toEqual([
    {
      network: 'projects/p-123456/global/networks/shared',
      subnetwork: 'projects/p-123456/regions/europe-west1/subnetworks/tools',
      accessConfigs: [],
    },
  ]);
  for (const t of ['gcp:compute/firewall:Firewall', 'gcp:compute/router:Router'])
    expect(resources.find((r) => r.type === t)!.inputs.network).toBe('projects/p-123456/global/networks/shared');
  const tunnel = resources.filter((r) => r.type === 'gcp:iap/tunnelInstanceIAMMember:TunnelInstanceIAMMember');
  expect(tunnel.map((r) => [r.name, r.inputs.role, r.inputs.member, r.inputs.instance, r.inputs.zone])).toEqual([
    [
      'grafana-iap-iap-tunnelResourceAccessor-group-ml-example-com',
      'roles/iap.tunnelResourceAccessor',
      'group:ml@example.com',
      'cv-x-grafana',
      'europe-west1-b',
    ],
    [
      'grafana-iap-iap-tunnelResourceAccessor-user-ana-example-com',
      'roles/iap.tunnelResourceAccessor',
      'user:ana@example.com',
      'cv-x-grafana',
      'europe-west1-b',
    ],
  ]);
});

test('the startup script is instance metadata (updated in place at the next boot), never metadataStartupScript (which replaces the VM)', async () => {
  const { resources } = await run(() => void new GrafanaVm('grafana', grafanaArgs));
  const vm = resources.find((r) => r.type === 'gcp:compute/instance:Instance')!;
  expect(vm.inputs.metadataStartupScript).toBeUndefined();
  expect((vm.inputs.metadata as Record<string, string>)['startup-script']).toMatch(/^#!\/bin\/bash\n# Creature Vision Grafana/);
  expect(vm.inputs.allowStoppingForUpdate).toBe(true);
});

test('Grafana refuses unpinned versions', () => {
  expect(() => new GrafanaVm('grafana', { ...grafanaArgs, grafanaVersion: 'latest' })).toThrow('grafana grafanaVersion "latest"');
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

const jobArgs: PreprocessingJobArgs = {
  project: 'p-123456',
  region: 'europe-west1',
  prefix: 'cv-x',
  image: `r/preprocessing@sha256:${'b'.repeat(64)}`,
  serviceAccountEmail: 'pre@p-123456.iam.gserviceaccount.com',
  env: { CV_STORAGE_BACKEND: 'gcs', CV_PREPROCESSING_GZIP: 'false' },
  taskCount: 8,
  parallelism: 4,
  cpu: '2',
  memory: '2Gi',
  taskTimeoutSeconds: 1800,
  maxRetries: 1,
  deletionProtection: true,
  executors: [{ member: 'serviceAccount:pipeline@p-123456.iam.gserviceaccount.com', memberName: 'pipeline' }],
};

test('the preprocessing job: digest image, its own account, env, tasks, limits; only the executor may run it with overrides', async () => {
  const { resources } = await run(() => new PreprocessingJob('pre', jobArgs));
  const component = resources.find((r) => r.type === 'creature-vision:preprocessing:PreprocessingJob')!;
  const job = resources.find((r) => r.type === 'gcp:cloudrunv2/job:Job')!;
  expect(job.parent).toBe(component.urn);
  expect(job.inputs).toMatchObject({ name: 'cv-x-preprocess', location: 'europe-west1', project: 'p-123456', deletionProtection: true });
  const t = job.inputs.template as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(t).toMatchObject({ taskCount: 8, parallelism: 4 });
  expect(t.template).toMatchObject({ serviceAccount: 'pre@p-123456.iam.gserviceaccount.com', timeout: '1800s', maxRetries: 1 });
  expect(t.template.containers).toEqual([
    {
      name: 'transform',
      image: jobArgs.image,
      commands: ['node', 'dist/workloads/preprocessing/cli.js'],
      args: DEFAULT_JOB_ARGS,
      envs: [
        { name: 'CV_PREPROCESSING_GZIP', value: 'false' },
        { name: 'CV_STORAGE_BACKEND', value: 'gcs' },
      ],
      resources: { limits: { cpu: '2', memory: '2Gi' } },
    },
  ]);
  const grants = resources.filter((r) => r.type === 'gcp:cloudrunv2/jobIamMember:JobIamMember');
  expect(grants.map((g) => [g.inputs.name, g.inputs.role, g.inputs.member])).toEqual([
    ['cv-x-preprocess', 'roles/run.jobsExecutorWithOverrides', 'serviceAccount:pipeline@p-123456.iam.gserviceaccount.com'],
    ['cv-x-preprocess', 'roles/run.viewer', 'serviceAccount:pipeline@p-123456.iam.gserviceaccount.com'],
  ]);
  // Job-scoped only: nothing at project level, no basic roles.
  expect(resources.filter((r) => r.type.includes('projects/iAMMember'))).toEqual([]);
});

test('a preprocessing job with impossible settings is refused before anything is registered', () => {
  expect(() => new PreprocessingJob('pre', { ...jobArgs, taskCount: 0, maxRetries: 11 })).toThrow(
    'preprocessing job pre: taskCount must be 1-10000; maxRetries must be 0-10',
  );
});
