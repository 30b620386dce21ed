import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { BUCKET_PURPOSE, BUCKETS, BucketName, datasetKeys, pipelineKeys, rawKeys } from '../workloads/core/layout';
import { childOptions, gcpLabels, grantNames, resourceId, RoleGrant } from './base';

export interface LifecycleArgs {
  /** Raw images move to NEARLINE after this many days (they are read again only by replay). */
  rawNearlineAfterDays: number;
  /**
   * Uploads still awaiting a label (`uploads/` in the raw bucket) are deleted this many days
   * after their last write. A label moves an upload into the training data outside `uploads/`.
   */
  unlabelledUploadsExpireDays: number;
  /** Pipeline run records, step outputs and Vertex job outputs are deleted after this many days. */
  pipelineRunsExpireDays: number;
  /** Staged preprocessing parts (`staging/` in the datasets bucket) a failed or abandoned run left are deleted after this many days. */
  stagingExpireDays: number;
  /** Noncurrent (overwritten) model objects, e.g. old registry pointers, are deleted after this many days. */
  noncurrentModelsExpireDays: number;
}

export interface DataLakeArgs {
  project: pulumi.Input<string>;
  location: pulumi.Input<string>;
  /** Globally unique bucket name prefix, e.g. `<project>-cv-dev`. */
  namePrefix: string;
  /** Delete buckets with their objects on destroy (dev stacks only). */
  forceDestroy: boolean;
  /** `protect` the buckets against `pulumi destroy` (prod stacks). */
  protect: boolean;
  lifecycle: LifecycleArgs;
  labels?: Record<string, string>;
  /** Bucket-level IAM: who may do what on which bucket. */
  grants?: Partial<Record<BucketName, RoleGrant[]>>;
}

/**
 * GCS buckets of the data lake, named from workloads/core/layout.ts: uniform
 * bucket-level access, public access prevention enforced, versioning on models (the
 * registry pointers move with generation preconditions), lifecycle rules, labels, and
 * IAM granted per bucket rather than per project.
 */
export class DataLake extends pulumi.ComponentResource {
  readonly buckets: Record<BucketName, gcp.storage.Bucket>;
  readonly bindings: gcp.storage.BucketIAMMember[] = [];
  /** Bucket names by logical bucket (for the workloads' `storage.buckets` config). */
  readonly bucketNames: Record<BucketName, pulumi.Output<string>>;

  constructor(name: string, args: DataLakeArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validate before registering anything: a component that throws after super() leaves a dangling registration.
    const grantPlan = (Object.entries(args.grants ?? {}) as [BucketName, RoleGrant[]][]).map(([bucket, grants]) => ({
      bucket,
      grants,
      names: grantNames(`${name}-${bucket}`, grants),
    }));
    super('creature-vision:storage:DataLake', name, {}, opts);
    const child = childOptions(this, opts);
    const buckets = {} as Record<BucketName, gcp.storage.Bucket>;
    for (const bucket of BUCKETS) {
      buckets[bucket] = new gcp.storage.Bucket(
        `${name}-${bucket}`,
        {
          project: args.project,
          name: resourceId(63, args.namePrefix, bucket),
          location: args.location,
          uniformBucketLevelAccess: true,
          publicAccessPrevention: 'enforced',
          forceDestroy: args.forceDestroy,
          versioning: { enabled: bucket === 'models' },
          lifecycleRules: lifecycleRules(bucket, args.lifecycle),
          labels: gcpLabels({ ...args.labels, bucket, purpose: BUCKET_PURPOSE[bucket] }),
        },
        { ...child, protect: args.protect },
      );
    }
    this.buckets = buckets;
    this.bucketNames = Object.fromEntries(BUCKETS.map((b) => [b, buckets[b].name])) as Record<BucketName, pulumi.Output<string>>;

    for (const { bucket, grants, names } of grantPlan) {
      names.forEach((resourceName, i) => {
        this.bindings.push(
          new gcp.storage.BucketIAMMember(
            resourceName,
            { bucket: buckets[bucket].name, role: grants[i].role, member: grants[i].member },
            child,
          ),
        );
      });
    }
    this.registerOutputs({ bucketNames: this.bucketNames });
  }
}

/**
 * Lifecycle rules per bucket, on prefixes from the one object layout (workloads/core/layout.ts).
 * Dataset versions are immutable and never expired; only abandoned staged parts are.
 */
export function lifecycleRules(bucket: BucketName, l: LifecycleArgs): gcp.types.input.storage.BucketLifecycleRule[] {
  // Any versioned or failed upload leaves debris: abort incomplete multipart uploads everywhere.
  const rules: gcp.types.input.storage.BucketLifecycleRule[] = [
    { action: { type: 'AbortIncompleteMultipartUpload' }, condition: { age: 1 } },
  ];
  switch (bucket) {
    case 'raw':
      rules.push({
        action: { type: 'SetStorageClass', storageClass: 'NEARLINE' },
        condition: { age: l.rawNearlineAfterDays, matchesPrefixes: [rawKeys.imagesPrefix], matchesStorageClasses: ['STANDARD'] },
      });
      rules.push({
        action: { type: 'Delete' },
        condition: { age: l.unlabelledUploadsExpireDays, matchesPrefixes: [rawKeys.uploadsPrefix] },
      });
      break;
    case 'models':
      rules.push({
        action: { type: 'Delete' },
        condition: { daysSinceNoncurrentTime: l.noncurrentModelsExpireDays, withState: 'ARCHIVED' },
      });
      break;
    case 'pipeline':
      rules.push({
        action: { type: 'Delete' },
        condition: { age: l.pipelineRunsExpireDays, matchesPrefixes: [pipelineKeys.runsPrefix, pipelineKeys.vertexRootPrefix] },
      });
      break;
    case 'datasets':
      // A committed run deletes its staged parts; a failed or abandoned one leaves them here.
      rules.push({ action: { type: 'Delete' }, condition: { age: l.stagingExpireDays, matchesPrefixes: [datasetKeys.stagingPrefix] } });
      break;
  }
  return rules;
}
