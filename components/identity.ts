import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { childOptions, resourceId } from './base';

/**
 * One service account per workload. Only roles that exist solely at project level are
 * granted here; access to buckets, the dataset, the registry, the secret and the
 * services is granted on those resources by the components that own them.
 */
export const WORKLOAD_IDENTITIES = ['inference', 'trigger', 'pipeline', 'preprocessing', 'grafana', 'scheduler'] as const;
export type WorkloadIdentity = (typeof WORKLOAD_IDENTITIES)[number];

/** Why each account exists (becomes its description). */
export const IDENTITY_PURPOSE: Record<WorkloadIdentity, string> = {
  inference: 'Cloud Run inference service',
  trigger: 'Cloud Run retraining trigger; submits Vertex AI pipeline jobs',
  pipeline: 'Vertex AI Pipelines steps (preprocess, train, evaluate, promote)',
  preprocessing: 'Preprocessing: the Cloud Run job tasks that transform raw images into staged TFRecord parts',
  grafana: 'Grafana VM: reads the warehouse, reads its admin password',
  scheduler: 'Cloud Scheduler OIDC identity that invokes the Cloud Run services',
};

/**
 * Project-level roles, the least each workload needs. BigQuery jobs, log and metric
 * writing and Vertex AI job submission have no narrower scope than the project.
 */
export const PROJECT_ROLES: Record<WorkloadIdentity, readonly string[]> = {
  // Streaming inserts need no BigQuery job; the service runs no query.
  inference: ['roles/logging.logWriter', 'roles/monitoring.metricWriter'],
  trigger: ['roles/bigquery.jobUser', 'roles/aiplatform.user', 'roles/logging.logWriter'],
  pipeline: ['roles/bigquery.jobUser', 'roles/aiplatform.user', 'roles/logging.logWriter'],
  // The transform tasks use no BigQuery.
  preprocessing: ['roles/logging.logWriter'],
  // Reads the warehouse only (dataViewer on the dataset is granted there) and its one secret.
  grafana: ['roles/bigquery.jobUser'],
  scheduler: [],
};

/**
 * Who may act as whom (`roles/iam.serviceAccountUser` on the target account): the
 * trigger submits pipeline jobs that run as the pipeline account. (Starting an execution
 * of the preprocessing Cloud Run job needs no act-as: the job's account is set at deploy time.)
 */
export const ACT_AS: ReadonlyArray<{ actor: WorkloadIdentity; target: WorkloadIdentity }> = [{ actor: 'trigger', target: 'pipeline' }];

export interface WorkloadIdentitiesArgs {
  project: pulumi.Input<string>;
  /** Prefix of the account ids (6-30 characters in all), e.g. `cv-dev`. */
  prefix: string;
}

export class WorkloadIdentities extends pulumi.ComponentResource {
  readonly accounts: Record<WorkloadIdentity, gcp.serviceaccount.Account>;
  readonly projectBindings: gcp.projects.IAMMember[] = [];
  readonly actAsBindings: gcp.serviceaccount.IAMMember[] = [];
  /** Account emails by workload. */
  readonly emails: Record<WorkloadIdentity, pulumi.Output<string>>;
  /** `serviceAccount:<email>` members by workload. */
  readonly members: Record<WorkloadIdentity, pulumi.Output<string>>;

  constructor(name: string, args: WorkloadIdentitiesArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validate before registering anything: a component that throws after super() leaves a dangling registration.
    const ids = Object.fromEntries(WORKLOAD_IDENTITIES.map((w) => [w, resourceId(30, args.prefix, w)])) as Record<WorkloadIdentity, string>;
    for (const id of Object.values(ids)) {
      if (id.length < 6) throw new Error(`service account id ${id} is shorter than 6 characters; use a longer prefix`);
    }
    super('creature-vision:identity:WorkloadIdentities', name, {}, opts);
    const child = childOptions(this, opts);
    const accounts = {} as Record<WorkloadIdentity, gcp.serviceaccount.Account>;
    for (const workload of WORKLOAD_IDENTITIES) {
      const accountId = ids[workload];
      accounts[workload] = new gcp.serviceaccount.Account(
        `${name}-${workload}`,
        { project: args.project, accountId, displayName: `creature-vision ${workload}`, description: IDENTITY_PURPOSE[workload] },
        child,
      );
    }
    this.accounts = accounts;
    this.emails = mapValues(accounts, (a) => a.email);
    this.members = mapValues(accounts, (a) => a.member);

    for (const workload of WORKLOAD_IDENTITIES) {
      for (const role of PROJECT_ROLES[workload]) {
        this.projectBindings.push(
          new gcp.projects.IAMMember(
            `${name}-${workload}-${role.replace(/^roles\//, '').replace(/\./g, '-')}`,
            { project: args.project, role, member: this.members[workload] },
            child,
          ),
        );
      }
    }
    for (const { actor, target } of ACT_AS) {
      this.actAsBindings.push(
        new gcp.serviceaccount.IAMMember(
          `${name}-${actor}-actas-${target}`,
          { serviceAccountId: accounts[target].name, role: 'roles/iam.serviceAccountUser', member: this.members[actor] },
          child,
        ),
      );
    }
    this.registerOutputs({ emails: this.emails });
  }
}

function mapValues<K extends string, A, B>(rec: Record<K, A>, f: (a: A) => B): Record<K, B> {
  return Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, f(v as A)])) as Record<K, B>;
}
