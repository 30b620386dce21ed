import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { childOptions, gcpLabels, grantNames, resourceId, RoleGrant } from './base';

export interface CleanupArgs {
  /** Versions kept per image no matter their age. */
  keepCount: number;
  /** Untagged versions older than this are deleted (unless among the kept ones). */
  deleteUntaggedAfterDays: number;
  /** Report what would be deleted instead of deleting (useful when first enabling cleanup). */
  dryRun?: boolean;
}

export interface ArtifactRegistryArgs {
  project: pulumi.Input<string>;
  location: pulumi.Input<string>;
  repositoryId: string;
  cleanup: CleanupArgs;
  labels?: Record<string, string>;
  /** Repository-level IAM (e.g. `roles/artifactregistry.reader` for the account Vertex steps pull as). */
  grants?: RoleGrant[];
}

/** Artifact Registry allows at most this many cleanup policies per repository. */
export const MAX_CLEANUP_POLICIES = 10;

/**
 * Artifact Registry cleanup policies: keep the N most recent versions of each image,
 * delete untagged versions older than X days. Keep policies win over delete policies,
 * so the images the stack currently references by digest are never removed.
 */
export function cleanupPolicies(c: CleanupArgs): gcp.types.input.artifactregistry.RepositoryCleanupPolicy[] {
  if (!Number.isInteger(c.keepCount) || c.keepCount < 1) throw new Error(`cleanup keepCount = ${c.keepCount}: must be a whole number ≥ 1`);
  if (!(c.deleteUntaggedAfterDays > 0)) throw new Error(`cleanup deleteUntaggedAfterDays = ${c.deleteUntaggedAfterDays}: must be > 0`);
  const policies: gcp.types.input.artifactregistry.RepositoryCleanupPolicy[] = [
    { id: 'keep-most-recent', action: 'KEEP', mostRecentVersions: { keepCount: c.keepCount } },
    {
      id: 'delete-old-untagged',
      action: 'DELETE',
      condition: { tagState: 'UNTAGGED', olderThan: `${Math.round(c.deleteUntaggedAfterDays * 86_400)}s` },
    },
  ];
  if (policies.length > MAX_CLEANUP_POLICIES) throw new Error(`at most ${MAX_CLEANUP_POLICIES} cleanup policies are allowed`);
  return policies;
}

/**
 * The Artifact Registry Docker repository the workload images are pushed to (not to be
 * confused with the model registry, `workloads/core/model/registry.ts`).
 */
export class ArtifactRegistry extends pulumi.ComponentResource {
  readonly repository: gcp.artifactregistry.Repository;
  readonly bindings: gcp.artifactregistry.RepositoryIamMember[] = [];
  /** Registry host, e.g. `europe-west1-docker.pkg.dev`. */
  readonly server: pulumi.Output<string>;
  /** Image name prefix: `<server>/<project>/<repository>`. */
  readonly imagePrefix: pulumi.Output<string>;

  constructor(name: string, args: ArtifactRegistryArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validate before anything is registered.
    const policies = cleanupPolicies(args.cleanup);
    const grants = args.grants ?? [];
    const grantResourceNames = grantNames(name, grants);
    // The alias keeps the URNs of stacks created before the rename: nothing is replaced.
    super(
      'creature-vision:artifacts:ArtifactRegistry',
      name,
      {},
      {
        ...opts,
        aliases: [...(opts?.aliases ?? []), { type: 'creature-vision:registry:ContainerRegistry' }],
      },
    );
    const child = childOptions(this, opts);
    this.repository = new gcp.artifactregistry.Repository(
      `${name}-repo`,
      {
        project: args.project,
        location: args.location,
        repositoryId: resourceId(63, args.repositoryId),
        format: 'DOCKER',
        description: 'Creature Vision workload images (referenced by digest)',
        cleanupPolicies: policies,
        cleanupPolicyDryRun: args.cleanup.dryRun ?? false,
        labels: gcpLabels(args.labels),
      },
      child,
    );
    this.server = pulumi.interpolate`${this.repository.location}-docker.pkg.dev`;
    this.imagePrefix = pulumi.interpolate`${this.server}/${this.repository.project}/${this.repository.repositoryId}`;
    grantResourceNames.forEach((resourceName, i) => {
      this.bindings.push(
        new gcp.artifactregistry.RepositoryIamMember(
          resourceName,
          {
            project: args.project,
            location: this.repository.location,
            repository: this.repository.name,
            role: grants[i].role,
            member: grants[i].member,
          },
          child,
        ),
      );
    });
    this.registerOutputs({ imagePrefix: this.imagePrefix });
  }
}
