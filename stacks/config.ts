import * as pulumi from '@pulumi/pulumi';
import { z } from 'zod';
import { cronProblem } from '../components/scheduler';
import { leafPaths } from '../workloads/core/config/load';
import { WorkloadConfig, workloadConfigSchema } from '../workloads/core/config/schema';

/**
 * The stack configuration, typed and validated. Every key lives under the project
 * namespace (`creature-vision:<key>`) except the provider's `gcp:project` and
 * `gcp:region`. Workload sections (`training`, `gate`, `trigger`, ...) reuse the
 * workloads' own zod schemas and reach the services as CV_* environment variables;
 * the infrastructure sections are defined here. Any bad value fails `pulumi preview`
 * with one line per problem naming the key, the value and what is accepted.
 */

export const NAMESPACE = 'creature-vision';

/** Sections the stack derives itself and never takes from config. */
const DERIVED_WORKLOAD_SECTIONS = ['dataRoot', 'storage', 'warehouse', 'pipeline'] as const;
type DerivedSection = (typeof DERIVED_WORKLOAD_SECTIONS)[number];
export type WorkloadSection = Exclude<keyof WorkloadConfig, DerivedSection>;
const WORKLOAD_SHAPE = workloadConfigSchema.shape as Record<keyof WorkloadConfig, z.ZodType>;
export const WORKLOAD_SECTIONS = (Object.keys(WORKLOAD_SHAPE) as (keyof WorkloadConfig)[]).filter(
  (k): k is WorkloadSection => !(DERIVED_WORKLOAD_SECTIONS as readonly string[]).includes(k),
);

const int = (min: number) => z.number().int('must be a whole number').min(min, `must be ≥ ${min}`);
const days = z.number().int('must be a whole number of days').min(0, 'must be ≥ 0 (0 = never)');
const cpu = z.string().regex(/^(\d+(\.\d+)?|\d+m)$/, 'must be a CPU quantity like 1, 2, 0.5 or 1000m');
const memory = z.string().regex(/^\d+(Mi|Gi)$/, 'must be a memory quantity like 512Mi or 2Gi');
const RELEASE = /^\d+\.\d+\.\d+$/;
const cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'must be an IPv4 CIDR range like 203.0.113.0/24');

const runSize = (d: { min: number; max: number; concurrency: number; cpu: string; memory: string; cpuIdle: boolean }) =>
  z
    .object({
      minInstances: int(0).default(d.min),
      maxInstances: int(1).max(1000, 'must be ≤ 1000').default(d.max),
      concurrency: int(1).max(1000, 'must be ≤ 1000').default(d.concurrency),
      cpu: cpu.default(d.cpu),
      memory: memory.default(d.memory),
      cpuIdle: z.boolean().default(d.cpuIdle),
    })
    .strict()
    .refine((s) => !(s.maxInstances >= 1) || s.minInstances <= s.maxInstances, {
      message: 'minInstances must be ≤ maxInstances',
      path: ['minInstances'],
    })
    .prefault({});

/** Infrastructure sections (not seen by the workloads). */
export const infraSchema = z
  .object({
    deletionProtection: z.boolean().default(true),
    publicInvoker: z.boolean().default(false),
    /** Resource name prefix; defaults to `cv-<stack>`. */
    prefix: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,19}$/, 'must be 2-20 characters of a-z, 0-9, -, starting with a letter')
      .optional(),
    labels: z.record(z.string(), z.string()).default({}),
    /**
     * The local models directory the stack uploads the configured backbone from (when
     * `model.backboneUrl` is empty and the backbone is an offline one): relative paths are
     * from the project root. The containers have no ../shared and the cloud has no TF Hub.
     */
    backboneDir: z.string().min(1, 'must name a directory').default('../shared/models'),
    cloudRun: z
      .object({
        inference: runSize({ min: 0, max: 3, concurrency: 16, cpu: '2', memory: '2Gi', cpuIdle: false }),
        trigger: runSize({ min: 0, max: 1, concurrency: 1, cpu: '1', memory: '512Mi', cpuIdle: true }),
      })
      .strict()
      .prefault({}),
    dataLake: z
      .object({
        location: z.string().min(1).optional(),
        forceDestroy: z.boolean().default(false),
        rawNearlineAfterDays: int(1).default(30),
        /** Uploads nobody labelled are deleted this many days after their last write. */
        unlabelledUploadsExpireDays: int(1).default(30),
        pipelineRunsExpireDays: int(1).default(30),
        stagingExpireDays: int(1).default(7),
        noncurrentModelsExpireDays: int(1).default(30),
      })
      .strict()
      .prefault({}),
    bigquery: z
      .object({
        datasetId: z
          .string()
          .regex(/^[A-Za-z0-9_]{1,1024}$/, 'must be letters, digits and underscores')
          .default('creature_vision'),
        location: z.string().min(1).optional(),
        partitionExpirationDays: days.default(0),
      })
      .strict()
      .prefault({}),
    registry: z
      .object({
        keepCount: int(1).max(100, 'must be ≤ 100').default(10),
        deleteUntaggedAfterDays: int(1).default(14),
        dryRun: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    build: z
      .object({
        platform: z.enum(['linux/amd64', 'linux/arm64']).default('linux/amd64'),
        /** Base image of the workload image (workloads/Dockerfile's NODE_IMAGE); pin it with `@sha256:<digest>`. Empty: the Dockerfile's default. */
        baseImage: z
          .string()
          .regex(
            /^node:\d+-(bookworm|trixie)-slim(@sha256:[0-9a-f]{64})?$/,
            'must be a Debian-slim Node.js image such as node:22-bookworm-slim, optionally @sha256:<64 hex digits>',
          )
          .optional(),
      })
      .strict()
      .prefault({}),
    /**
     * The Cloud Run job that runs preprocessing's transform stage as N tasks
     * (components/preprocessing-job.ts). When enabled, the pipeline's preprocess step uses it
     * (preprocessing.engine = cloud-run-job, preprocessing.tasks = tasks).
     */
    preprocessingJob: z
      .object({
        enabled: z.boolean().default(true),
        tasks: int(1).max(10_000, 'must be ≤ 10000').default(4),
        /** Tasks running at once; 0 = all of them. */
        parallelism: int(0).default(0),
        cpu: cpu.default('2'),
        memory: memory.default('2Gi'),
        taskTimeoutSeconds: int(60).max(604_800, 'must be ≤ 604800 (7 days)').default(3600),
        maxRetries: int(0).max(10, 'must be ≤ 10').default(2),
      })
      .strict()
      .prefault({}),
    /**
     * Deliberate waits on the first `up` for Google's eventual consistency (each runs once,
     * when its time.Sleep is created): after enabling APIs (a fresh API answers 403 for
     * minutes) and after creating log-based metrics (alert policies on them fail with 404
     * for up to 10 minutes).
     */
    propagationWait: z
      .object({
        apisSeconds: int(0).max(3600, 'must be ≤ 3600').default(120),
        logMetricsSeconds: int(0).max(3600, 'must be ≤ 3600').default(600),
      })
      .strict()
      .prefault({}),
    scheduler: z
      .object({ timeZone: z.string().min(1).default('Etc/UTC'), paused: z.boolean().default(false) })
      .strict()
      .prefault({}),
    grafana: z
      .object({
        enabled: z.boolean().default(true),
        machineType: z.string().min(1).default('e2-small'),
        zone: z.string().min(1).optional(),
        publicIp: z.boolean().default(false),
        /** Default: Google's IAP TCP-forwarding range only (browse through `gcloud compute start-iap-tunnel`). */
        allowedSourceRanges: z.array(cidr).min(1, 'must list at least one CIDR range').default(['35.235.240.0/20']),
        /** VPC network and subnetwork (name or self link); a custom-mode network needs the subnetwork. */
        network: z.string().min(1).default('default'),
        subnetwork: z.string().min(1).optional(),
        /** Who may open an IAP tunnel to the VM (roles/iap.tunnelResourceAccessor on it), e.g. group:ml-team@example.com. */
        iapTunnelMembers: z
          .array(
            z
              .string()
              .regex(
                /^(user|group|serviceAccount|domain|principal|principalSet):\S+$/,
                'must be an IAM principal like group:ml@example.com',
              ),
          )
          .default([]),
        /** Pinned releases: a reboot never upgrades them; change them here to upgrade. */
        version: z.string().regex(RELEASE, 'must be a release number like 12.2.0').default('12.2.0'),
        bigqueryPluginVersion: z.string().regex(RELEASE, 'must be a release number like 3.2.0').default('3.2.0'),
      })
      .strict()
      .prefault({}),
    alerts: z
      .object({
        enabled: z.boolean().default(false),
        notificationEmails: z.array(z.string().email('must be an e-mail address')).default([]),
      })
      .strict()
      .refine((a) => !a.enabled || a.notificationEmails.length > 0, {
        message: 'alerts are enabled: give at least one notificationEmails entry',
        path: ['notificationEmails'],
      })
      .prefault({}),
  })
  .strict();

export type InfraConfig = z.infer<typeof infraSchema>;

export interface StackConfig extends Omit<InfraConfig, 'prefix'> {
  stack: string;
  project: string;
  region: string;
  prefix: string;
  /** The workload sections, validated and with defaults (storage, warehouse and pipeline are derived by the stack). */
  workload: Pick<WorkloadConfig, WorkloadSection>;
  /** `creature-vision:grafanaAdminPassword` (a secret), if set. */
  grafanaAdminPassword?: pulumi.Output<string>;
}

export class StackConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'StackConfigError';
  }
}

const SECRET_KEYS = ['grafanaAdminPassword'];

/** Each ingestion call per tick is its own Cloud Scheduler job; more than this is a typo or a different design. */
export const MAX_INGEST_JOBS = 10;

/** Validates raw values (already JSON-decoded) keyed without the namespace. Pure: used by tests too. */
export function parseStackConfig(
  raw: Record<string, unknown>,
  provider: { project?: string; region?: string },
  stack: string,
): StackConfig {
  const problems: string[] = [];
  const key = (path: (string | number)[]) => `${NAMESPACE}:${path.map(String).join('.')}`;
  const show = (v: unknown) => (v === undefined ? '(missing)' : JSON.stringify(v));

  if (!provider.project) problems.push('gcp:project is not set: `pulumi config set gcp:project <project-id>`');
  else if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(provider.project))
    problems.push(`gcp:project = ${show(provider.project)}: must be a project id (6-30 characters of a-z, 0-9, -)`);
  if (!provider.region) problems.push('gcp:region is not set: `pulumi config set gcp:region <region>`, e.g. europe-west1');
  else if (!/^[a-z]+-[a-z]+\d+$/.test(provider.region))
    problems.push(`gcp:region = ${show(provider.region)}: must be a region like europe-west1`);

  const infraRaw: Record<string, unknown> = {};
  const workloadRaw: Record<string, unknown> = {};
  const infraKeys = Object.keys(infraSchema.shape);
  for (const [k, v] of Object.entries(raw)) {
    if (SECRET_KEYS.includes(k)) continue;
    if (infraKeys.includes(k)) infraRaw[k] = v;
    else if ((WORKLOAD_SECTIONS as string[]).includes(k)) workloadRaw[k] = v;
    else if ((DERIVED_WORKLOAD_SECTIONS as readonly string[]).includes(k))
      problems.push(`${key([k])}: set by the stack itself (from the buckets, dataset, images and accounts it creates); remove it`);
    else problems.push(`${key([k])}: unknown key; known keys are ${[...infraKeys, ...WORKLOAD_SECTIONS, ...SECRET_KEYS].join(', ')}`);
  }

  const infra = infraSchema.safeParse(infraRaw);
  if (!infra.success) {
    for (const issue of infra.error.issues) {
      if (issue.code === 'unrecognized_keys') problems.push(`${key(issue.path as string[])}: unknown key(s) ${issue.keys.join(', ')}`);
      else problems.push(`${key(issue.path as (string | number)[])} = ${show(getPath(infraRaw, issue.path))}: ${issue.message}`);
    }
  }
  if (infra.success) {
    // Staged parts of a run still in progress must outlive it: every wave of tasks, each with all its retries.
    const job = infra.data.preprocessingJob;
    const waves = job.parallelism > 0 ? Math.ceil(job.tasks / job.parallelism) : 1;
    const minDays = Math.ceil((waves * job.taskTimeoutSeconds * (job.maxRetries + 1)) / 86_400) + 1;
    if (infra.data.dataLake.stagingExpireDays < minDays)
      problems.push(
        `${key(['dataLake', 'stagingExpireDays'])} = ${infra.data.dataLake.stagingExpireDays}: must be ≥ ${minDays}, or a running ` +
          `preprocessing job's staged parts could expire before its commit (${waves} wave(s) × ${job.taskTimeoutSeconds} s × ${job.maxRetries + 1} attempt(s))`,
      );
  }

  // Workload sections: the workloads' schemas, plus a check for misspelt nested keys
  // (zod objects strip unknown keys silently, which would hide a typo).
  const known = new Set(leafPaths(workloadConfigSchema).map((p) => p.join('.')));
  for (const p of rawLeafPaths(workloadRaw)) {
    if (!known.has(p.join('.')) && ![...known].some((k) => k.startsWith(`${p.join('.')}.`))) problems.push(`${key(p)}: unknown key`);
  }
  const workload = workloadConfigSchema.safeParse(workloadRaw);
  if (!workload.success) {
    for (const issue of workload.error.issues) {
      if (issue.code === 'unrecognized_keys') continue; // reported above with full paths
      problems.push(`${key(issue.path as (string | number)[])} = ${show(getPath(workloadRaw, issue.path))}: ${issue.message}`);
    }
  } else {
    // The containers have no ../shared: an offline backbone (catalog.ts) is uploaded by the
    // stack from `backboneDir` (program.ts); an explicit URL must be one they can read.
    const { backboneUrl } = workload.data.model;
    if (backboneUrl && !/^(gs|https):\/\//.test(backboneUrl))
      problems.push(
        `${key(['model', 'backboneUrl'])} = ${show(backboneUrl)}: must be a gs:// or https:// URL on Google Cloud (empty: the stack uploads the backbone from backboneDir)`,
      );
    if (workload.data.ingest.perTick > MAX_INGEST_JOBS)
      problems.push(
        `${key(['ingest', 'perTick'])} = ${workload.data.ingest.perTick}: must be ≤ ${MAX_INGEST_JOBS} on Google Cloud (one Cloud Scheduler job per call per tick)`,
      );
    // The job coordinates come from what the stack creates; the engine needs the job to exist.
    const engine = workload.data.preprocessing.engine;
    const jobEnabled = infra.success ? infra.data.preprocessingJob.enabled : true;
    if (engine === 'cloud-run-job' && !jobEnabled)
      problems.push(
        `${key(['preprocessing', 'engine'])} = "cloud-run-job": the stack creates no preprocessing job (preprocessingJob.enabled = false); enable it or use in-process`,
      );
    if (engine === 'local-tasks')
      problems.push(
        `${key(['preprocessing', 'engine'])} = "local-tasks": on Google Cloud the step scales out with the Cloud Run job (preprocessingJob.enabled, the default) or runs in-process`,
      );
    for (const section of ['ingest', 'trigger'] as const) {
      const cron = workload.data[section].cron;
      const problem = cronProblem(cron);
      if (problem) problems.push(`${key([section, 'cron'])} = ${show(cron)}: ${problem}`);
    }
  }

  if (problems.length) throw new StackConfigError(problems);
  const i = infra.data!;
  const w = workload.data!;
  const region = provider.region!;
  return {
    ...i,
    stack,
    project: provider.project!,
    region,
    prefix:
      i.prefix ??
      `cv-${stack}`
        .toLowerCase()
        .replace(/[^a-z0-9-]/g, '-')
        .slice(0, 20),
    dataLake: { ...i.dataLake, location: i.dataLake.location ?? region },
    bigquery: { ...i.bigquery, location: i.bigquery.location ?? region },
    grafana: { ...i.grafana, zone: i.grafana.zone ?? `${region}-b` },
    workload: Object.fromEntries(WORKLOAD_SECTIONS.map((s) => [s, w[s]])) as StackConfig['workload'],
  };
}

/** Reads `creature-vision:*` and `gcp:*` from the Pulumi stack config and validates it. */
export function readStackConfig(): StackConfig {
  const raw: Record<string, unknown> = {};
  for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(`${NAMESPACE}:`)) continue;
    raw[fullKey.slice(NAMESPACE.length + 1)] = decodeConfigValue(value);
  }
  const gcpConfig = new pulumi.Config('gcp');
  const config = parseStackConfig(raw, { project: gcpConfig.get('project'), region: gcpConfig.get('region') }, pulumi.getStack());
  const password = new pulumi.Config(NAMESPACE).getSecret('grafanaAdminPassword');
  return password === undefined ? config : { ...config, grafanaAdminPassword: password };
}

/** Pulumi hands every value over as a string; structured values and scalars are JSON. */
export function decodeConfigValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function rawLeafPaths(obj: unknown, prefix: string[] = []): string[][] {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return [prefix];
  return Object.entries(obj as Record<string, unknown>).flatMap(([k, v]) => rawLeafPaths(v, [...prefix, k]));
}

function getPath(obj: unknown, path: PropertyKey[]): unknown {
  let cur = obj;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}
