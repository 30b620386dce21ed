/* eslint-disable @typescript-eslint/no-explicit-any -- tests read untyped provider inputs */
import { unpackProvisioning, PROVISIONING_METADATA_KEY } from '../../components/grafana-startup';
import { evaluate } from '../../policy/rules';
import { loadConfig } from '../../workloads/core/config/load';
import { pipelineKeys } from '../../workloads/core/layout';
import { bigQuerySchema } from '../../workloads/core/warehouse/schema-dsl';
import { TABLE_NAMES, tableDef } from '../../workloads/core/warehouse/tables';
import { MockRun, runMocked, stackConfigFromYaml } from '../mock-run';
import { asPolicyResources, container, countByType, customs, envOf, ofType, one } from './helpers';

/** One mocked run of the real program with Pulumi.dev.yaml, shared by every assertion below. */
let run: MockRun;
beforeAll(async () => {
  run = await runMocked({ stack: 'dev' });
});

const outputs = () => run.outputs as Record<string, any>;
const SA = (w: string) => `serviceAccount:cv-dev-${w}@creature-vision-dev.iam.gserviceaccount.com`;

describe('dev stack inventory', () => {
  test('creates exactly the planned resources', () => {
    expect(countByType(run)).toEqual({
      'docker:index/image:Image': 1,
      'gcp:artifactregistry/repository:Repository': 1,
      'gcp:artifactregistry/repositoryIamMember:RepositoryIamMember': 1,
      'gcp:bigquery/dataset:Dataset': 1,
      'gcp:bigquery/datasetIamMember:DatasetIamMember': 1, // Grafana reads every table
      'gcp:bigquery/iamMember:IamMember': 13, // table by table: stacks/warehouse-access.ts
      'gcp:bigquery/table:Table': TABLE_NAMES.length,
      'gcp:cloudrunv2/job:Job': 1,
      'gcp:cloudrunv2/jobIamMember:JobIamMember': 2,
      'gcp:cloudrunv2/service:Service': 2,
      'gcp:cloudrunv2/serviceIamMember:ServiceIamMember': 3,
      'gcp:cloudscheduler/job:Job': 3, // ingest.perTick = 2, plus the retraining check
      'gcp:compute/firewall:Firewall': 1,
      'gcp:compute/instance:Instance': 1,
      'gcp:compute/router:Router': 1,
      'gcp:compute/routerNat:RouterNat': 1,
      'gcp:projects/iAMMember:IAMMember': 10,
      'gcp:projects/service:Service': 14, // + iap.googleapis.com (tunnels to Grafana)
      'gcp:secretmanager/secret:Secret': 1,
      'gcp:secretmanager/secretIamMember:SecretIamMember': 1,
      'gcp:secretmanager/secretVersion:SecretVersion': 1,
      'gcp:serviceaccount/account:Account': 6,
      'gcp:serviceaccount/iAMMember:IAMMember': 1,
      'gcp:storage/bucket:Bucket': 4,
      'gcp:storage/bucketIAMMember:BucketIAMMember': 13,
      'gcp:storage/bucketObject:BucketObject': 12, // the pipeline spec + mobilenet_v2_100's 11 files (backbone-upload.test.ts)
      'random:index/randomPassword:RandomPassword': 1,
      'time:index/sleep:Sleep': 1, // the first up waits for the freshly enabled APIs (first-up.test.ts)
    });
  });

  test('every cloud resource belongs to a creature-vision component', () => {
    const components = new Map(run.resources.filter((r) => !r.custom).map((r) => [r.urn, r.type]));
    for (const r of customs(run)) {
      expect([r.name, components.get(r.parent ?? '')]).toEqual([r.name, expect.stringMatching(/^creature-vision:[a-z]+:[A-Z][A-Za-z]+$/)]);
    }
  });

  test('stack outputs name the service, dashboard, buckets, dataset, registry and pipeline spec', () => {
    const o = outputs();
    expect(o.serviceUrl).toMatch(/^https:\/\/cv-dev-inference-.*\.run\.app$/);
    expect(o.dashboardUrl).toBe('http://10.132.0.10:3000');
    expect(Object.keys(o.buckets).sort()).toEqual(['datasets', 'models', 'pipeline', 'raw']);
    expect(o.dataset).toBe('creature_vision_dev');
    expect(o.registry).toBe('europe-west1-docker.pkg.dev/creature-vision-dev/cv-dev-images');
    expect(o.pipelineSpecUri).toBe(`gs://${o.buckets.pipeline}/${pipelineKeys.spec}`);
  });
});

describe('dev identities and IAM', () => {
  test('no project-level storage or BigQuery data roles: those are granted on the bucket and dataset', () => {
    const roles = ofType(run, 'gcp:projects/iAMMember:IAMMember').map((r) => r.inputs.role as string);
    expect(roles.filter((r) => /storage|bigquery\.data/.test(r))).toEqual([]);
  });

  test('Grafana’s account can run BigQuery jobs and nothing else at project level; the scheduler has no project role', () => {
    const byMember = (w: string) =>
      ofType(run, 'gcp:projects/iAMMember:IAMMember')
        .filter((r) => r.inputs.member === SA(w))
        .map((r) => r.inputs.role);
    expect(byMember('grafana')).toEqual(['roles/bigquery.jobUser']);
    expect(byMember('scheduler')).toEqual([]);
  });

  test('bucket-level grants follow who reads and who writes', () => {
    const grants = ofType(run, 'gcp:storage/bucketIAMMember:BucketIAMMember').map(
      (r) =>
        `${String(r.inputs.bucket).replace('creature-vision-dev-cv-dev-', '')} ${r.inputs.role} ${String(r.inputs.member).replace(/^serviceAccount:cv-dev-|@.*$/g, '')}`,
    );
    expect(grants.sort()).toEqual(
      [
        'raw roles/storage.objectUser inference',
        'raw roles/storage.objectViewer trigger',
        'raw roles/storage.objectViewer pipeline',
        'raw roles/storage.objectViewer preprocessing',
        'datasets roles/storage.objectUser pipeline',
        'datasets roles/storage.objectUser preprocessing',
        'datasets roles/storage.objectViewer trigger',
        // Model zero: the service creates it on a fresh stack, create-only.
        'models roles/storage.objectCreator inference',
        'models roles/storage.objectUser pipeline',
        'models roles/storage.objectViewer inference',
        'models roles/storage.objectViewer trigger',
        'pipeline roles/storage.objectUser pipeline',
        'pipeline roles/storage.objectViewer trigger',
      ].sort(),
    );
  });

  test('dataset-level grants: Grafana only views; writers are granted table by table (warehouse-access.test.ts)', () => {
    const grants = ofType(run, 'gcp:bigquery/datasetIamMember:DatasetIamMember').map((r) => `${r.inputs.role} ${r.inputs.member}`);
    expect(grants).toEqual([`roles/bigquery.dataViewer ${SA('grafana')}`]);
  });

  test('the trigger may act as the pipeline account; no other act-as grant exists', () => {
    const actAs = ofType(run, 'gcp:serviceaccount/iAMMember:IAMMember').map((r) => `${r.inputs.member} -> ${r.inputs.serviceAccountId}`);
    expect(actAs).toEqual([
      `${SA('trigger')} -> projects/creature-vision-dev/serviceAccounts/cv-dev-pipeline@creature-vision-dev.iam.gserviceaccount.com`,
    ]);
  });

  test('nothing Dataflow is left: no API, no role, no template, no staging bucket (the preprocessing job scales out instead)', () => {
    const everything = JSON.stringify(customs(run).map((r) => [r.type, r.name, r.inputs]));
    expect(everything).not.toMatch(/dataflow|flex-?template|templates\//i);
    expect(ofType(run, 'gcp:storage/bucket:Bucket').map((b) => b.name)).not.toContain('lake-staging');
  });

  test('dev is public (config publicInvoker: true) on inference only; the trigger is invoked by the scheduler account alone', () => {
    const invokers = ofType(run, 'gcp:cloudrunv2/serviceIamMember:ServiceIamMember').map((r) => `${r.inputs.name} ${r.inputs.member}`);
    expect(invokers.sort()).toEqual(
      ['cv-dev-inference allUsers', `cv-dev-inference ${SA('scheduler')}`, `cv-dev-trigger ${SA('scheduler')}`].sort(),
    );
  });
});

describe('dev data lake and warehouse', () => {
  test('buckets: uniform access, public access prevention, versioning on models only, dev force-destroy, labels', () => {
    for (const b of ofType(run, 'gcp:storage/bucket:Bucket')) {
      expect(b.inputs).toMatchObject({
        uniformBucketLevelAccess: true,
        publicAccessPrevention: 'enforced',
        forceDestroy: true,
        location: 'europe-west1',
      });
      expect((b.inputs.versioning as { enabled: boolean }).enabled).toBe(b.name === 'lake-models');
      expect(b.inputs.labels).toMatchObject({ app: 'creature-vision', stack: 'dev', environment: 'dev' });
      expect(b.protect).toBe(false);
    }
    const pipelineRules = one(run, 'gcp:storage/bucket:Bucket', 'lake-pipeline').inputs.lifecycleRules as unknown[];
    expect(pipelineRules).toContainEqual({ action: { type: 'Delete' }, condition: { age: 7, matchesPrefixes: ['runs/', 'vertex/'] } });
    // Pulumi.dev.yaml: unlabelled uploads expire after 7 days.
    const rawRules = one(run, 'gcp:storage/bucket:Bucket', 'lake-raw').inputs.lifecycleRules as unknown[];
    expect(rawRules).toContainEqual({ action: { type: 'Delete' }, condition: { age: 7, matchesPrefixes: ['uploads/'] } });
    // The workloads are told the same number (one setting, not two that can disagree).
    const workloads = loadConfig({ env: envOf(one(run, 'gcp:cloudrunv2/service:Service', 'inference-service')) });
    expect(workloads.inference.unlabelledUploadDays).toBe(7);
  });

  test('BigQuery tables have exactly the workloads’ schemas, daily partitioning and the dev expiration', () => {
    for (const table of TABLE_NAMES) {
      const t = one(run, 'gcp:bigquery/table:Table', `warehouse-${table}`);
      const def = tableDef(table);
      expect(JSON.parse(t.inputs.schema as string)).toEqual(bigQuerySchema(def));
      expect(t.inputs.timePartitioning).toEqual({ type: 'DAY', field: def.partitionField, expirationMs: 30 * 86_400_000 });
      expect(t.inputs.clusterings).toEqual(def.clustering);
      expect(t.inputs.deletionProtection).toBe(false);
    }
    expect(one(run, 'gcp:bigquery/dataset:Dataset', 'warehouse-dataset').inputs).toMatchObject({
      datasetId: 'creature_vision_dev',
      deleteContentsOnDestroy: true,
    });
  });

  test('Artifact Registry keeps the newest 5 and deletes untagged versions after 7 days', () => {
    const repo = one(run, 'gcp:artifactregistry/repository:Repository', 'registry-repo');
    expect(repo.inputs.cleanupPolicies).toEqual([
      { id: 'keep-most-recent', action: 'KEEP', mostRecentVersions: { keepCount: 5 } },
      { id: 'delete-old-untagged', action: 'DELETE', condition: { tagState: 'UNTAGGED', olderThan: '604800s' } },
    ]);
  });
});

describe('dev services', () => {
  test('Cloud Run runs the one workload image by digest, with probes, scaling and resources from the stack config', () => {
    const inference = one(run, 'gcp:cloudrunv2/service:Service', 'inference-service');
    const c = container(inference);
    expect(c.image).toBe(outputs().image);
    expect(c.image).toMatch(/^europe-west1-docker\.pkg\.dev\/creature-vision-dev\/cv-dev-images\/workloads@sha256:[0-9a-f]{64}$/);
    expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 8080 });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 8080 });
    expect(c.resources.limits).toEqual({ cpu: '2', memory: '2Gi' });
    expect(inference.inputs).toMatchObject({
      deletionProtection: false,
      template: { scaling: { minInstanceCount: 0, maxInstanceCount: 2 }, maxInstanceRequestConcurrency: 8 },
    });
    expect((inference.inputs.template as Record<string, unknown>).serviceAccount).toBe(
      'cv-dev-inference@creature-vision-dev.iam.gserviceaccount.com',
    );

    const trigger = container(one(run, 'gcp:cloudrunv2/service:Service', 'trigger-service'));
    expect(trigger.image).toBe(outputs().image);
    expect(trigger.commands).toEqual(['node', 'dist/workloads/trigger/cli.js', 'serve']);
    expect(c.commands).toEqual(['node', 'dist/workloads/inference/main.js']);
  });

  test('the environment the services get is a valid workload config for Google Cloud', () => {
    const env = envOf(one(run, 'gcp:cloudrunv2/service:Service', 'inference-service'));
    const config = loadConfig({ env });
    const o = outputs();
    expect(config.storage).toEqual({
      backend: 'gcs',
      buckets: { raw: o.buckets.raw, datasets: o.buckets.datasets, models: o.buckets.models, pipeline: o.buckets.pipeline },
    });
    expect(config.warehouse).toMatchObject({
      backend: 'bigquery',
      projectId: 'creature-vision-dev',
      dataset: 'creature_vision_dev',
      location: 'europe-west1',
    });
    expect(config.pipeline).toMatchObject({
      runner: 'vertex',
      projectId: 'creature-vision-dev',
      region: 'europe-west1',
      serviceAccount: 'cv-dev-pipeline@creature-vision-dev.iam.gserviceaccount.com',
      stack: 'dev', // its runs are labelled with the stack; an in-progress run of another stack does not block it
      pipelineRoot: `gs://${o.buckets.pipeline}/vertex`,
      image: o.image,
    });
    expect(config.inference).toMatchObject({ host: '0.0.0.0', port: 8080 });
    expect(config.training.epochs).toBe(8);
    expect(config.ingest).toEqual({ cron: '*/5 * * * *', perTick: 2 });
    expect(envOf(one(run, 'gcp:cloudrunv2/service:Service', 'trigger-service'))).toEqual(env);
  });

  test('Cloud Scheduler calls /predict and /check with the scheduler account’s OIDC token, audience = service URL', () => {
    // The inference service's deterministic URL (https://<service>-<project number>.<region>.run.app), known before it exists.
    const INGEST_AUDIENCE = 'https://cv-dev-inference-123456789012.europe-west1.run.app';
    const o = outputs();
    expect(
      ofType(run, 'gcp:cloudscheduler/job:Job')
        .map((j) => j.name)
        .sort(),
    ).toEqual(['schedules-ingest-1', 'schedules-ingest-2', 'schedules-retrain-check']);
    const ingest = one(run, 'gcp:cloudscheduler/job:Job', 'schedules-ingest-2').inputs;
    expect(ingest).toMatchObject({ schedule: '*/5 * * * *', region: 'europe-west1', timeZone: 'Etc/UTC', paused: false });
    expect(ingest.httpTarget).toMatchObject({
      httpMethod: 'GET',
      uri: `${o.serviceUrl}/predict`,
      oidcToken: { serviceAccountEmail: o.serviceAccounts.scheduler, audience: INGEST_AUDIENCE },
    });
    // The service is told whom to expect: the same audience, the Scheduler's account.
    const config = loadConfig({ env: envOf(one(run, 'gcp:cloudrunv2/service:Service', 'inference-service')) });
    // certsUrl '': tokens are checked against Google's certificates.
    expect(config.inference.ingestAuth).toEqual({ audience: INGEST_AUDIENCE, serviceAccount: o.serviceAccounts.scheduler, certsUrl: '' });
    const check = one(run, 'gcp:cloudscheduler/job:Job', 'schedules-retrain-check').inputs;
    expect(check).toMatchObject({ schedule: '*/30 * * * *' });
    expect(check.httpTarget).toMatchObject({
      httpMethod: 'POST',
      uri: `${o.triggerUrl}/check`,
      oidcToken: { serviceAccountEmail: o.serviceAccounts.scheduler, audience: o.triggerUrl },
    });
    expect(JSON.parse(Buffer.from((check.httpTarget as { body: string }).body, 'base64').toString())).toEqual({});
  });
});

describe('dev pipeline, preprocessing job and Grafana', () => {
  test('the uploaded pipeline spec runs this stack’s workload image by digest with the stack’s environment', () => {
    const obj = one(run, 'gcp:storage/bucketObject:BucketObject', 'pipeline-spec').inputs;
    expect(obj).toMatchObject({ bucket: outputs().buckets.pipeline, name: pipelineKeys.spec, contentType: 'application/json' });
    const spec = JSON.parse(obj.content as string);
    const executors = Object.entries(spec.deploymentSpec.executors) as [
      string,
      { container: { image: string; env: { name: string; value: string }[] } },
    ][];
    expect(executors.length).toBeGreaterThanOrEqual(5);
    for (const [, { container: c }] of executors) {
      expect(c.image).toBe(outputs().image);
      expect(c.env).toContainEqual({ name: 'CV_STORAGE_BACKEND', value: 'gcs' });
    }
  });

  test('the preprocess step scales out on the stack’s Cloud Run job, which only the pipeline account may run', () => {
    const job = one(run, 'gcp:cloudrunv2/job:Job', 'preprocessing-job-job').inputs as Record<string, any>;
    expect(job).toMatchObject({ name: 'cv-dev-preprocess', location: 'europe-west1', deletionProtection: false });
    expect(job.template).toMatchObject({ taskCount: 4, parallelism: 0 });
    expect(job.template.template).toMatchObject({
      serviceAccount: outputs().serviceAccounts.preprocessing,
      maxRetries: 2,
      timeout: '3600s',
    });
    const c = job.template.template.containers[0];
    expect(c.image).toBe(outputs().image);
    expect(c.commands).toEqual(['node', 'dist/workloads/preprocessing/cli.js']);
    expect(c.args).toEqual(['--stage', 'transform', '--no-progress']);
    expect(Object.fromEntries(c.envs.map((e: { name: string; value: string }) => [e.name, e.value]))).toMatchObject({
      CV_STORAGE_BACKEND: 'gcs',
      CV_STORAGE_BUCKETS_RAW: outputs().buckets.raw,
      CV_STORAGE_BUCKETS_DATASETS: outputs().buckets.datasets,
    });
    const grants = ofType(run, 'gcp:cloudrunv2/jobIamMember:JobIamMember').map(
      (g) => `${g.inputs.name} ${g.inputs.role} ${g.inputs.member}`,
    );
    expect(grants.sort()).toEqual([
      `cv-dev-preprocess roles/run.jobsExecutorWithOverrides ${SA('pipeline')}`,
      `cv-dev-preprocess roles/run.viewer ${SA('pipeline')}`,
    ]);
    expect(outputs().preprocessingJob).toBe('cv-dev-preprocess');
    // The step (and only config, no flag) selects the engine: the compiled spec is unchanged.
    const spec = JSON.parse(one(run, 'gcp:storage/bucketObject:BucketObject', 'pipeline-spec').inputs.content as string);
    const env = Object.fromEntries(
      (spec.deploymentSpec.executors['exec-preprocess'].container.env as { name: string; value: string }[]).map((e) => [e.name, e.value]),
    );
    expect(env).toMatchObject({
      CV_PREPROCESSING_ENGINE: 'cloud-run-job',
      CV_PREPROCESSING_TASKS: '4',
      CV_PREPROCESSING_CLOUD_RUN_JOB_PROJECT: 'creature-vision-dev',
      CV_PREPROCESSING_CLOUD_RUN_JOB_REGION: 'europe-west1',
      CV_PREPROCESSING_CLOUD_RUN_JOB_NAME: 'cv-dev-preprocess',
    });
    // …and it parses as the workloads' configuration.
    expect(loadConfig({ env }).preprocessing).toMatchObject({
      engine: 'cloud-run-job',
      tasks: 4,
      cloudRunJob: { name: 'cv-dev-preprocess' },
    });
  });

  test('Grafana: shielded e2-small without external IP, its own account, firewall to the configured range, password from Secret Manager', () => {
    const vm = one(run, 'gcp:compute/instance:Instance', 'grafana-vm').inputs as Record<string, any>;
    expect(vm.machineType).toBe('e2-small');
    expect(vm.networkInterfaces).toEqual([{ network: 'default', accessConfigs: [] }]);
    expect(vm.metadataStartupScript).toBeUndefined(); // the script is metadata: changing it never replaces the VM
    expect(vm.shieldedInstanceConfig).toEqual({ enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true });
    expect(vm.serviceAccount.email).toBe(outputs().serviceAccounts.grafana);
    const script = vm.metadata['startup-script'] as string;
    expect(script).toContain('/secrets/cv-dev-grafana-admin-password/versions/latest:access');
    expect(script).toContain("GRAFANA_VERSION='12.2.0'");
    expect(script).toContain("BIGQUERY_PLUGIN_VERSION='3.2.0'");
    const files = unpackProvisioning(vm.metadata[PROVISIONING_METADATA_KEY]);
    expect(files['/etc/grafana/provisioning/datasources/bigquery.yaml']).toMatch(
      /authenticationType: gce\n\s+defaultProject: creature-vision-dev/,
    );
    expect(Object.keys(files).sort()).toEqual([
      '/etc/grafana/provisioning/dashboards/creature-vision.yaml',
      '/etc/grafana/provisioning/datasources/bigquery.yaml',
      '/var/lib/grafana/dashboards/creature-vision.json',
    ]);
    expect(files['/var/lib/grafana/dashboards/creature-vision.json']).toContain('creature_vision_dev');

    const fw = one(run, 'gcp:compute/firewall:Firewall', 'grafana-ingress').inputs;
    expect(fw).toMatchObject({ sourceRanges: ['35.235.240.0/20'], allows: [{ protocol: 'tcp', ports: ['3000'] }], targetTags: vm.tags });
    expect(one(run, 'gcp:secretmanager/secretIamMember:SecretIamMember', 'grafana-admin-password-accessor').inputs).toMatchObject({
      role: 'roles/secretmanager.secretAccessor',
      member: SA('grafana'),
    });
  });
});

test('the policy pack passes on the dev stack', () => {
  expect(evaluate(asPolicyResources(run), { production: false })).toEqual([]);
});

test('npm run synth renders the tree: components, their resources nested, key inputs', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- scripts/ is outside the test's module graph otherwise
  const { renderTree } = require('../../scripts/synth') as typeof import('../../scripts/synth');
  const lines = renderTree(run.resources).split('\n');
  const at = (prefix: string) => lines.findIndex((l) => l.startsWith(prefix));
  expect(lines[0]).toBe('pulumi:pulumi:Stack  creature-vision-dev  [component]');
  const component = at('  creature-vision:run:WorkloadService  inference  [component]');
  const service = at('    gcp:cloudrunv2/service:Service  inference-service');
  expect(component).toBeGreaterThanOrEqual(0);
  expect(service).toBeGreaterThan(component);
  expect(lines.slice(service, service + 12).join('\n')).toMatch(/template\.containers\.0\.image: .*workloads@sha256:[0-9a-f]{64}/);
  expect(lines).toContain('  creature-vision:storage:DataLake  lake  [component]');
});

test('npm run synth ends with a one-screen review: probes, who may call what, every identity’s roles, and what dev opens beyond prod with the YAML key', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- scripts/ is outside the test's module graph otherwise
  const { reviewSummary } = require('../../scripts/review-summary') as typeof import('../../scripts/review-summary');
  const yaml = stackConfigFromYaml('dev');
  const review = reviewSummary(run, yaml);
  const lines = review.text.split('\n');
  expect(lines.length).toBeLessThanOrEqual(40);
  expect(lines).toContainEqual(
    expect.stringMatching(
      /^ {2}service cv-dev-inference: .*startup \/healthz, liveness \/healthz.*invokers: allUsers \(PUBLIC\), scheduler$/,
    ),
  );
  expect(lines).toContainEqual(expect.stringMatching(/^ {2}job cv-dev-preprocess: 4 tasks.*run by: pipeline/));
  expect(lines).toContainEqual(
    expect.stringMatching(
      /^ {2}preprocessing +logging\.logWriter @ project; storage\.objectUser @ bucket datasets; storage\.objectViewer @ bucket raw$/,
    ),
  );
  expect(lines).toContain(
    "  PUBLIC: allUsers may invoke service cv-dev-inference (its internal routes check the caller's token themselves)",
  );
  // The public service's route split and per-client limits, from its environment (Pulumi.dev.yaml's inference section).
  expect(lines).toContain(
    '    public routes per client: 60 requests/min, 100 uploads/day (client = X-Forwarded-For behind 1 trusted proxy hop(s)); internal routes (GET /predict, GET /status): OIDC token of scheduler only',
  );
  expect(lines).toContain('    no-public-invoker-in-prod: inference-run-invoker-allusers ← creature-vision:publicInvoker');
  expect(lines).toContainEqual(
    expect.stringMatching(
      /^ {4}deletion-protection-in-prod: .* ← creature-vision:deletionProtection, creature-vision:dataLake\.forceDestroy$/,
    ),
  );
  expect(review.blocking).toBe(false);
  // The same resources without the YAML keys that open them: the review blocks and says so.
  const bare = reviewSummary(run, { 'gcp:project': yaml['gcp:project'], 'gcp:region': yaml['gcp:region'] });
  expect(bare.text).toContain('no-public-invoker-in-prod: inference-run-invoker-allusers ← NOT SET IN THE YAML');
  expect(bare.blocking).toBe(true);
});
