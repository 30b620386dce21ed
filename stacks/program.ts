import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { ArtifactRegistry } from '../components/artifact-registry';
import { BackboneUpload } from '../components/backbone-upload';
import { RoleGrant, sanitizeLabel } from '../components/base';
import { deterministicServiceUrl, WorkloadService } from '../components/cloud-run-service';
import { DataLake } from '../components/data-lake';
import { GrafanaVm } from '../components/grafana-vm';
import { WORKLOAD_IDENTITIES, WorkloadIdentities, WorkloadIdentity } from '../components/identity';
import { PreprocessingJob, preprocessingJobName } from '../components/preprocessing-job';
import { ProjectApis } from '../components/project-apis';
import { ScheduledCalls } from '../components/scheduler';
import { VertexPipeline } from '../components/vertex-pipeline';
import { Warehouse } from '../components/warehouse';
import { WorkloadImage } from '../components/workload-image';
import { configToEnv } from '../workloads/core/config/load';
import { containerArgv, ENTRY_POINTS } from '../workloads/core/entry-points';
import { WorkloadConfig } from '../workloads/core/config/schema';
import { BucketName, BUCKETS, pipelineKeys } from '../workloads/core/layout';
import type { TableName } from '../workloads/core/warehouse/tables';
import { backboneFiles, resolveModelsDir } from './backbone-files';
import { StackConfig } from './config';
import { createAlerts } from './alerts';
import { RepoArtifacts } from './repo-artifacts';
import { WAREHOUSE_ACCESS } from './warehouse-access';

export interface StackOutputs {
  serviceUrl: pulumi.Output<string>;
  triggerUrl: pulumi.Output<string>;
  dashboardUrl: pulumi.Output<string> | string;
  /** How to reach a Grafana without a public IP (IAP TCP forwarding). */
  dashboardAccess: pulumi.Output<string> | string;
  buckets: Record<BucketName, pulumi.Output<string>>;
  dataset: pulumi.Output<string>;
  registry: pulumi.Output<string>;
  /** The workload image every service, job and pipeline step runs, by digest. */
  image: pulumi.Output<string>;
  pipelineSpecUri: pulumi.Output<string>;
  pipelineRoot: pulumi.Output<string>;
  /** The Cloud Run job that runs preprocessing's transform tasks (or why there is none). */
  preprocessingJob: pulumi.Output<string> | string;
  serviceAccounts: Record<string, pulumi.Output<string>>;
  /** Where the services and pipeline steps load the backbone (model.backboneUrl). */
  backboneUrl: pulumi.Output<string>;
}

const STORAGE_WRITER = 'roles/storage.objectUser';
const STORAGE_READER = 'roles/storage.objectViewer';

/** Composes the components for one stack. Everything stack-specific comes from `cfg`. */
export function createStack(cfg: StackConfig, artifacts: RepoArtifacts): StackOutputs {
  const { project, region, prefix } = cfg;
  // Read first: a missing backbone fails the program before it registers anything.
  const model = cfg.workload.model;
  const shipped = model.backboneUrl ? null : backboneFiles(model.backbone, resolveModelsDir(cfg.backboneDir));
  const labels = { app: 'creature-vision', stack: cfg.stack, ...cfg.labels };

  const apis = new ProjectApis('services', { project, propagationSeconds: cfg.propagationWait.apisSeconds });
  // Everything that calls a Google API waits until the freshly enabled APIs answer.
  const after: pulumi.ComponentResourceOptions = { dependsOn: [apis.propagated] };

  const ids = new WorkloadIdentities('identity', { project, prefix }, after);
  const m = ids.members;
  // Grants name their binding after the role and the workload, so adding one replaces nothing else.
  const grant = (role: string, ...who: WorkloadIdentity[]): RoleGrant[] => who.map((w) => ({ role, member: m[w], memberName: w }));

  // Bucket-level IAM: writers get objectUser (objects only, no IAM), readers objectViewer.
  const lake = new DataLake(
    'lake',
    {
      project,
      location: cfg.dataLake.location!,
      namePrefix: `${project}-${prefix}`,
      forceDestroy: cfg.dataLake.forceDestroy,
      protect: cfg.deletionProtection,
      lifecycle: cfg.dataLake,
      labels,
      grants: {
        raw: [...grant(STORAGE_WRITER, 'inference'), ...grant(STORAGE_READER, 'trigger', 'pipeline', 'preprocessing')],
        datasets: [...grant(STORAGE_WRITER, 'pipeline', 'preprocessing'), ...grant(STORAGE_READER, 'trigger')],
        // The inference service creates model zero on a fresh stack (workloads/core/model/model-zero.ts): create-only
        // writes, which objectCreator allows and which can never overwrite a model or move an existing pointer.
        models: [
          ...grant(STORAGE_WRITER, 'pipeline'),
          ...grant(STORAGE_READER, 'inference', 'trigger'),
          ...grant('roles/storage.objectCreator', 'inference'),
        ],
        // The trigger only reads the deployed spec; the pipeline jobs it submits write as the pipeline account.
        pipeline: [...grant(STORAGE_WRITER, 'pipeline'), ...grant(STORAGE_READER, 'trigger')],
      },
    },
    after,
  );

  const warehouse = new Warehouse(
    'warehouse',
    {
      project,
      location: cfg.bigquery.location!,
      datasetId: cfg.bigquery.datasetId,
      partitionExpirationDays: cfg.bigquery.partitionExpirationDays,
      deletionProtection: cfg.deletionProtection,
      labels,
      ...warehouseGrants(grant),
    },
    after,
  );

  const registry = new ArtifactRegistry(
    'registry',
    {
      project,
      location: region,
      repositoryId: `${prefix}-images`,
      cleanup: cfg.registry,
      labels,
      // Vertex steps pull as the pipeline account; Cloud Run services and jobs pull as the Cloud Run service agent.
      grants: grant('roles/artifactregistry.reader', 'pipeline'),
    },
    after,
  );
  const image = new WorkloadImage(
    'image',
    {
      imagePrefix: registry.imagePrefix,
      server: registry.server,
      tag: cfg.stack,
      platform: cfg.build.platform,
      baseImage: cfg.build.baseImage,
    },
    { dependsOn: [registry] },
  );

  // The backbone, from the local models directory into the models bucket (read above, before
  // anything was registered): the workloads read it as gs:// with their own accounts (readers
  // of the models bucket above). An explicit model.backboneUrl is used as given.
  const backboneUrl: pulumi.Output<string> = shipped
    ? new BackboneUpload('backbone', { bucket: lake.bucketNames.models, files: shipped.files, locationKey: shipped.locationKey }, after).url
    : pulumi.output(model.backboneUrl);

  // The workloads' configuration: stack sections plus what the stack itself created.
  // Every service and pipeline step gets the same CV_* environment.
  // The Scheduler's ingestion call carries an OIDC token for this audience, which the service
  // checks itself (a public dev service is not checked by Cloud Run): its own URL, known in advance.
  const inferenceServiceName = `${prefix}-inference`;
  const ingestAudience = gcp.organizations
    .getProjectOutput({ projectId: project }, { parent: apis })
    .apply((p) => deterministicServiceUrl(inferenceServiceName, p.number, region));
  const workloadEnv = pulumi
    .all([lake.bucketNames, warehouse.datasetId, ids.emails.pipeline, ids.emails.scheduler, ingestAudience, image.digest, backboneUrl])
    .apply(([buckets, dataset, pipelineSa, schedulerSa, audience, digest, backbone]) =>
      configToEnv(
        workloadConfig(cfg, {
          buckets: buckets as Record<BucketName, string>,
          dataset,
          pipelineServiceAccount: pipelineSa,
          ingestCaller: { audience, serviceAccount: schedulerSa },
          image: digest,
          backboneUrl: backbone,
          preprocessingJob: cfg.preprocessingJob.enabled ? preprocessingJobName(prefix) : undefined,
        }),
      ),
    );

  const pipeline = new VertexPipeline(
    'pipeline',
    {
      spec: artifacts.pipelineSpec,
      image: image.digest,
      bucket: lake.bucketNames.pipeline,
      region,
      serviceAccountEmail: ids.emails.pipeline,
      env: workloadEnv,
    },
    after,
  );

  // The preprocess step plans, runs the transform as N tasks of this job, and commits.
  let preprocessingJob: pulumi.Output<string> | string = 'none (creature-vision:preprocessingJob.enabled = false)';
  if (cfg.preprocessingJob.enabled) {
    const job = new PreprocessingJob(
      'preprocessing-job',
      {
        project,
        region,
        prefix,
        image: image.digest,
        serviceAccountEmail: ids.emails.preprocessing,
        env: workloadEnv,
        taskCount: cfg.preprocessingJob.tasks,
        parallelism: cfg.preprocessingJob.parallelism,
        cpu: cfg.preprocessingJob.cpu,
        memory: cfg.preprocessingJob.memory,
        taskTimeoutSeconds: cfg.preprocessingJob.taskTimeoutSeconds,
        maxRetries: cfg.preprocessingJob.maxRetries,
        deletionProtection: cfg.deletionProtection,
        executors: [{ member: m.pipeline, memberName: 'pipeline' }],
        labels,
      },
      after,
    );
    preprocessingJob = job.job.name;
  }

  const invokers = [{ member: m.scheduler, memberName: 'scheduler' }];
  const inference = new WorkloadService(
    'inference',
    {
      project,
      region,
      serviceName: inferenceServiceName,
      description: 'Creature Vision inference: predict, classify uploads, feedback',
      image: image.digest,
      command: containerArgv(ENTRY_POINTS.inferenceService),
      serviceAccountEmail: ids.emails.inference,
      env: workloadEnv,
      scaling: cfg.cloudRun.inference,
      // Start-up is the process being up. A fresh stack may have no model at all (a backbone
      // without an ImageNet head has no model zero; the first trained one needs images ingested
      // through this very service), and creating model zero takes time: /readyz reports the
      // model, it must not gate start-up.
      probes: { startupPath: '/healthz', livenessPath: '/healthz' },
      deletionProtection: cfg.deletionProtection,
      invokers,
      publicInvoker: cfg.publicInvoker,
      labels,
    },
    after,
  );

  const trigger = new WorkloadService(
    'trigger',
    {
      project,
      region,
      serviceName: `${prefix}-trigger`,
      description: 'Creature Vision retraining trigger: decides and submits Vertex AI pipeline jobs',
      image: image.digest,
      serviceAccountEmail: ids.emails.trigger,
      command: containerArgv(ENTRY_POINTS.triggerService),
      env: workloadEnv,
      scaling: cfg.cloudRun.trigger,
      // The trigger has no model to load: alive is ready.
      probes: { startupPath: '/healthz', livenessPath: '/healthz', startupBudgetSeconds: 60 },
      deletionProtection: cfg.deletionProtection,
      invokers,
      // The trigger starts paid pipeline runs: it is never public.
      publicInvoker: false,
      labels,
    },
    after,
  );

  new ScheduledCalls(
    'schedules',
    {
      project,
      region,
      prefix,
      timeZone: cfg.scheduler.timeZone,
      paused: cfg.scheduler.paused,
      serviceAccountEmail: ids.emails.scheduler,
      calls: [
        // One GET /predict per job and tick: `ingest.perTick` jobs on the same cron ingest that many images per tick.
        ...Array.from({ length: cfg.workload.ingest.perTick }, (_, i) => ({
          name: cfg.workload.ingest.perTick === 1 ? 'ingest' : `ingest-${i + 1}`,
          description: `Ingestion ${i + 1}/${cfg.workload.ingest.perTick}: GET /predict on the inference service`,
          cron: cfg.workload.ingest.cron,
          method: 'GET' as const,
          uri: pulumi.interpolate`${inference.uri}/predict`,
          audience: ingestAudience,
          deadlineSeconds: 120,
        })),
        {
          name: 'retrain-check',
          description: 'Retraining check: POST /check on the trigger service',
          cron: cfg.workload.trigger.cron,
          method: 'POST',
          uri: pulumi.interpolate`${trigger.uri}/check`,
          audience: trigger.uri,
          body: {},
          deadlineSeconds: 300,
        },
      ],
    },
    after,
  );

  let dashboardUrl: pulumi.Output<string> | string = 'grafana disabled (creature-vision:grafana.enabled = false)';
  let dashboardAccess: pulumi.Output<string> | string = dashboardUrl;
  if (cfg.grafana.enabled) {
    const grafana = new GrafanaVm(
      'grafana',
      {
        project,
        region,
        zone: cfg.grafana.zone!,
        prefix,
        machineType: cfg.grafana.machineType,
        publicIp: cfg.grafana.publicIp,
        allowedSourceRanges: cfg.grafana.allowedSourceRanges,
        network: cfg.grafana.network,
        subnetwork: cfg.grafana.subnetwork,
        iapTunnelMembers: cfg.grafana.iapTunnelMembers,
        grafanaVersion: cfg.grafana.version,
        bigqueryPluginVersion: cfg.grafana.bigqueryPluginVersion,
        serviceAccountEmail: ids.emails.grafana,
        adminPassword: cfg.grafanaAdminPassword,
        files: pulumi
          .all([warehouse.datasetId, lake.bucketNames.models])
          .apply(([datasetId, modelsBucket]) =>
            artifacts.grafanaFiles({ project, datasetId, location: cfg.bigquery.location!, modelsBucket }),
          ),
        deletionProtection: cfg.deletionProtection,
        labels,
      },
      after,
    );
    dashboardUrl = grafana.url;
    dashboardAccess = cfg.grafana.publicIp
      ? grafana.url
      : pulumi.interpolate`gcloud compute start-iap-tunnel ${grafana.instance.name} 3000 --local-host-port=localhost:3000 --zone ${cfg.grafana.zone} --project ${project}  # then open http://localhost:3000`;
  }

  if (cfg.alerts.enabled) createAlerts(cfg, inference, after);

  return {
    serviceUrl: inference.uri,
    triggerUrl: trigger.uri,
    dashboardUrl,
    dashboardAccess,
    buckets: lake.bucketNames,
    dataset: warehouse.datasetId,
    registry: registry.imagePrefix,
    image: image.digest,
    pipelineSpecUri: pipeline.specUri,
    pipelineRoot: pipeline.pipelineRoot,
    preprocessingJob,
    serviceAccounts: ids.emails,
    backboneUrl,
  };
}

/**
 * BigQuery IAM from WAREHOUSE_ACCESS: `dataEditor` on each table an identity appends to,
 * `dataViewer` on each other table it queries, `dataViewer` on the dataset only for who reads
 * everything (Grafana).
 */
function warehouseGrants(grant: (role: string, ...who: WorkloadIdentity[]) => RoleGrant[]): {
  grants: RoleGrant[];
  tableGrants: Partial<Record<TableName, RoleGrant[]>>;
} {
  const grants: RoleGrant[] = [];
  const tableGrants: Partial<Record<TableName, RoleGrant[]>> = {};
  const onTable = (table: TableName, g: RoleGrant[]) => (tableGrants[table] = [...(tableGrants[table] ?? []), ...g]);
  for (const who of WORKLOAD_IDENTITIES) {
    const access = WAREHOUSE_ACCESS[who];
    if (access.readsAll) grants.push(...grant('roles/bigquery.dataViewer', who));
    for (const table of access.writes) onTable(table, grant('roles/bigquery.dataEditor', who));
    for (const table of access.reads.filter((t) => !access.writes.includes(t) && !access.readsAll))
      onTable(table, grant('roles/bigquery.dataViewer', who));
  }
  return { grants, tableGrants };
}

/** What the stack created that the workloads need to know. */
export interface CreatedResources {
  buckets: Record<BucketName, string>;
  dataset: string;
  pipelineServiceAccount: string;
  /** Who calls the inference service's internal routes: the OIDC audience it expects and the Scheduler's account. */
  ingestCaller: { audience: string; serviceAccount: string };
  /** The workload image's digest reference. */
  image: string;
  /** The preprocessing Cloud Run job's name, when the stack creates one. */
  preprocessingJob?: string;
  /** Where the workloads load the backbone (the uploaded copy's gs:// URL, or the configured URL; empty: the backbone's default). */
  backboneUrl?: string;
}

/** The workload config every service and step runs with on Google Cloud. */
export function workloadConfig(cfg: StackConfig, created: CreatedResources): Partial<WorkloadConfig> {
  const w = cfg.workload;
  const { buckets } = created;
  return {
    ...w,
    storage: {
      backend: 'gcs',
      buckets: Object.fromEntries(BUCKETS.map((b) => [b, buckets[b]])) as Record<BucketName, string>,
    },
    warehouse: {
      backend: 'bigquery',
      duckdbFile: 'warehouse.duckdb',
      url: '',
      projectId: cfg.project,
      dataset: created.dataset,
      location: cfg.bigquery.location!,
    },
    pipeline: {
      runner: 'vertex',
      projectId: cfg.project,
      region: cfg.region,
      serviceAccount: created.pipelineServiceAccount,
      // The trigger labels its runs with the stack and waits only for its own stack's runs.
      stack: sanitizeLabel(cfg.stack),
      pipelineRoot: `gs://${buckets.pipeline}/${pipelineKeys.vertexRoot}`,
      apiEndpoint: '',
      image: created.image,
    },
    // With the job, the preprocess step scales out: plan, N tasks of the job, commit (workloads/preprocessing/engines).
    preprocessing: created.preprocessingJob
      ? {
          ...w.preprocessing,
          engine: 'cloud-run-job',
          tasks: cfg.preprocessingJob.tasks,
          cloudRunJob: { ...w.preprocessing.cloudRunJob, project: cfg.project, region: cfg.region, name: created.preprocessingJob },
        }
      : w.preprocessing,
    model: { ...w.model, backboneUrl: created.backboneUrl || w.model.backboneUrl },
    // Cloud Run sends traffic to 0.0.0.0:8080; the local dog-image server does not exist in the cloud.
    // Tokens are checked against Google's certificates (certsUrl empty) in the cloud.
    // How long an unlabelled upload is kept is the raw bucket's lifecycle rule (dataLake.
    // unlabelledUploadsExpireDays); the workloads are told the same number, never a second one.
    inference: {
      ...w.inference,
      host: '0.0.0.0',
      port: 8080,
      ingestAuth: { ...created.ingestCaller, certsUrl: '' },
      unlabelledUploadDays: cfg.dataLake.unlabelledUploadsExpireDays,
    },
    dogApi: { ...w.dogApi, baseUrl: w.dogApi.baseUrl || 'https://dog.ceo' },
  };
}
