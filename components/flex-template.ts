import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { childOptions } from './base';

/** One launch parameter of the template (the Dataflow template metadata format). */
export interface FlexTemplateParameter {
  name: string;
  label: string;
  helpText: string;
  isOptional?: boolean;
  regexes?: string[];
}

/** What the pipeline's author produces for a launcher image (workloads/preprocessing/flex-template.ts). */
export interface FlexTemplateBase {
  image: string;
  sdkInfo: { language: string; version?: string };
  metadata: { name: string; description: string; parameters: FlexTemplateParameter[] };
  defaultEnvironment?: Record<string, unknown>;
}

/** The template spec document Dataflow reads at `flexTemplates.launch` (`containerSpecGcsPath`). */
export interface FlexTemplateSpec extends FlexTemplateBase {
  defaultEnvironment: Record<string, unknown>;
}

export interface WorkerEnvironment {
  serviceAccountEmail: pulumi.Input<string>;
  /** Bucket for staging and temp files (`gs://<bucket>/staging`, `gs://<bucket>/temp`). */
  stagingBucket: pulumi.Input<string>;
  maxWorkers: number;
  machineType: string;
  region: pulumi.Input<string>;
  labels?: Record<string, string>;
}

export interface FlexTemplateArgs {
  /** Builds the template (image, SDK, parameter metadata) for a launcher image reference. */
  template: (launcherImage: string) => FlexTemplateBase;
  /** Launcher image, by digest. */
  launcherImage: pulumi.Input<string>;
  /** Worker SDK container (defaults to the launcher image). */
  workerImage?: pulumi.Input<string>;
  environment: WorkerEnvironment;
  /** Bucket of the template spec object (key `templates/<metadata.name>.json`). */
  specBucket: pulumi.Input<string>;
}

export interface ResolvedEnvironment {
  serviceAccountEmail: string;
  stagingBucket: string;
  maxWorkers: number;
  machineType: string;
  region: string;
  labels?: Record<string, string>;
}

/** Adds this stack's worker environment to the template; refuses malformed or duplicate parameter names. */
export function withEnvironment(base: FlexTemplateBase, workerImage: string, env: ResolvedEnvironment): FlexTemplateSpec {
  const names = new Set<string>();
  for (const p of base.metadata.parameters) {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(p.name))
      throw new Error(`flex template parameter name ${JSON.stringify(p.name)}: letters, digits, _`);
    if (names.has(p.name)) throw new Error(`flex template parameter ${p.name} is declared twice`);
    names.add(p.name);
  }
  return {
    ...base,
    defaultEnvironment: {
      ...base.defaultEnvironment,
      serviceAccountEmail: env.serviceAccountEmail,
      tempLocation: `gs://${env.stagingBucket}/temp`,
      stagingLocation: `gs://${env.stagingBucket}/staging`,
      sdkContainerImage: workerImage,
      maxWorkers: env.maxWorkers,
      machineType: env.machineType,
      workerRegion: env.region,
      // Workers need no public IPs: they read and write GCS and BigQuery through Private Google Access.
      ipConfiguration: 'WORKER_IP_PRIVATE',
      additionalUserLabels: env.labels ?? {},
    },
  };
}

/**
 * The preprocessing pipeline as a Dataflow Flex Template: the template spec JSON (launcher
 * image digest, parameter metadata, worker service account, staging/temp locations) as a
 * GCS object. Launching a job is a runtime action (the pipeline does it), not a resource.
 */
export class FlexTemplate extends pulumi.ComponentResource {
  readonly specObject: gcp.storage.BucketObject;
  /** `gs://` path to pass as `containerSpecGcsPath`. */
  readonly templatePath: pulumi.Output<string>;
  readonly spec: pulumi.Output<FlexTemplateSpec>;

  constructor(name: string, args: FlexTemplateArgs, opts?: pulumi.ComponentResourceOptions) {
    super('creature-vision:dataflow:FlexTemplate', name, {}, opts);
    const e = args.environment;
    this.spec = pulumi
      .all([args.launcherImage, args.workerImage ?? args.launcherImage, e.serviceAccountEmail, e.stagingBucket, e.region])
      .apply(([launcher, worker, sa, bucket, region]) =>
        withEnvironment(args.template(launcher), worker, {
          serviceAccountEmail: sa,
          stagingBucket: bucket,
          maxWorkers: e.maxWorkers,
          machineType: e.machineType,
          region,
          labels: e.labels,
        }),
      );
    this.specObject = new gcp.storage.BucketObject(
      `${name}-spec`,
      {
        bucket: args.specBucket,
        name: this.spec.apply((s) => `templates/${s.metadata.name}.json`),
        contentType: 'application/json',
        content: this.spec.apply((s) => JSON.stringify(s, null, 2)),
      },
      childOptions(this, opts),
    );
    this.templatePath = pulumi.interpolate`gs://${this.specObject.bucket}/${this.specObject.name}`;
    this.registerOutputs({ templatePath: this.templatePath });
  }
}
