import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { containerCommand, ENTRY_POINTS } from '../workloads/core/entry-points';
import { childOptions, containerEnv, gcpLabels, grantNames, Member, resourceId, RoleGrant } from './base';

export interface PreprocessingJobArgs {
  project: pulumi.Input<string>;
  region: pulumi.Input<string>;
  /** Resource name prefix, e.g. `cv-dev` (the job is `<prefix>-preprocess`). */
  prefix: string;
  /** The preprocessing image by digest (`…@sha256:…`), never a tag. */
  image: pulumi.Input<string>;
  /** The account the tasks run as (reads the raw bucket, writes the datasets bucket's staging area). */
  serviceAccountEmail: pulumi.Input<string>;
  /** CV_* environment (buckets, preprocessing settings), the same every service and step gets. */
  env: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Tasks of an execution started without a task-count override. */
  taskCount: number;
  /** Tasks running at once; 0 = as many as Cloud Run allows. */
  parallelism: number;
  /** e.g. `2`, `1000m`. */
  cpu: string;
  /** e.g. `2Gi`. */
  memory: string;
  /** Per attempt of a task. */
  taskTimeoutSeconds: number;
  /** Retries of a failed task before the execution fails (transform tasks are idempotent: a retry rewrites its part). */
  maxRetries: number;
  deletionProtection: boolean;
  /** Members that start executions with overrides (the pipeline's account: `--version`, task count). */
  executors: Member[];
  labels?: Record<string, string>;
}

/** What a member in `executors` is granted on this job, and why (nothing at project level). */
export const EXECUTOR_ROLES = [
  // run.jobs.run + run.jobs.runWithOverrides: start an execution with per-run args and task count.
  'roles/run.jobsExecutorWithOverrides',
  // Read-only on this job: follow the execution it started and list its tasks (progress, which task failed, log links).
  'roles/run.viewer',
] as const;

/** `<prefix>-preprocess`: the job's name, known before deployment (the pipeline step's config carries it). */
export function preprocessingJobName(prefix: string): string {
  return resourceId(63, prefix, 'preprocess');
}

/** Arguments of an execution started without overrides: fails at once with a usage error (a run needs `--version`). */
export const DEFAULT_JOB_ARGS = [...ENTRY_POINTS.preprocessTransformTask.args];

/**
 * The preprocessing transform stage as a Cloud Run job: N tasks of the preprocessing image,
 * each running `cli.ts --stage transform --version V` on its share of the planned items
 * (CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT). The pipeline's preprocess step plans,
 * starts one execution with overrides (workloads/preprocessing/engines/cloud-run-job-engine.ts),
 * waits for it, and commits; only the named executors may start it.
 */
export class PreprocessingJob extends pulumi.ComponentResource {
  readonly job: gcp.cloudrunv2.Job;
  readonly executorBindings: gcp.cloudrunv2.JobIamMember[] = [];
  /** The job name (known before deployment; the step's config carries it). */
  readonly jobName: string;

  constructor(name: string, args: PreprocessingJobArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validate before registering anything: a component that throws after super() leaves a dangling registration.
    const problems: string[] = [];
    if (!Number.isInteger(args.taskCount) || args.taskCount < 1 || args.taskCount > 10_000) problems.push('taskCount must be 1-10000');
    if (!Number.isInteger(args.parallelism) || args.parallelism < 0) problems.push('parallelism must be a whole number ≥ 0');
    if (!Number.isInteger(args.taskTimeoutSeconds) || args.taskTimeoutSeconds < 1 || args.taskTimeoutSeconds > 604_800)
      problems.push('taskTimeoutSeconds must be 1-604800 (7 days)');
    if (!Number.isInteger(args.maxRetries) || args.maxRetries < 0 || args.maxRetries > 10) problems.push('maxRetries must be 0-10');
    if (problems.length) throw new Error(`preprocessing job ${name}: ${problems.join('; ')}`);
    const executorGrants: RoleGrant[] = args.executors.flatMap((m) => EXECUTOR_ROLES.map((role) => ({ ...m, role })));
    const executorNames = grantNames(name, executorGrants);
    super('creature-vision:preprocessing:PreprocessingJob', name, {}, opts);
    const child = childOptions(this, opts);
    this.jobName = preprocessingJobName(args.prefix);

    this.job = new gcp.cloudrunv2.Job(
      `${name}-job`,
      {
        project: args.project,
        location: args.region,
        name: this.jobName,
        deletionProtection: args.deletionProtection,
        labels: gcpLabels(args.labels),
        template: {
          taskCount: args.taskCount,
          parallelism: args.parallelism,
          labels: gcpLabels(args.labels),
          template: {
            serviceAccount: args.serviceAccountEmail,
            timeout: `${args.taskTimeoutSeconds}s`,
            maxRetries: args.maxRetries,
            containers: [
              {
                name: 'transform',
                image: args.image,
                // Executions override the args (`--version V` added); the command stays.
                commands: containerCommand(ENTRY_POINTS.preprocessTransformTask),
                args: DEFAULT_JOB_ARGS,
                envs: containerEnv(args.env),
                resources: { limits: { cpu: args.cpu, memory: args.memory } },
              },
            ],
          },
        },
      },
      child,
    );

    executorGrants.forEach((g, i) => {
      this.executorBindings.push(
        new gcp.cloudrunv2.JobIamMember(
          executorNames[i],
          { project: args.project, location: args.region, name: this.job.name, role: g.role, member: g.member },
          child,
        ),
      );
    });
    this.registerOutputs({ jobName: this.job.name });
  }
}
