import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { deployableSpec } from '../pipeline-specs/deploy';
import type { PipelineSpec } from '../pipeline-specs/ir';
import { pipelineKeys } from '../workloads/core/layout';
import { childOptions } from './base';

export interface VertexPipelineArgs {
  /** The compiled spec (pipeline-specs/compiled/continual-learning.json), with image tokens. */
  spec: PipelineSpec;
  /** The workload image's digest reference, which replaces the spec's image token. */
  image: pulumi.Input<string>;
  /** The pipeline root bucket (layout `pipeline`). */
  bucket: pulumi.Input<string>;
  region: pulumi.Input<string>;
  serviceAccountEmail: pulumi.Input<string>;
  /** CV_* environment every step container gets (buckets, warehouse, workload sections). */
  env: pulumi.Input<Record<string, string>>;
}

/**
 * Vertex AI Pipelines has no Pulumi resource for jobs or schedules: this component puts
 * the compiled spec, its image token bound to this stack's workload image digest and the stack's CV_*
 * environment added to every step, at
 * `pipelineKeys.spec` in the pipeline root bucket, and exposes what the trigger needs to
 * submit `pipelineJobs` with it (spec URI, pipeline root, region, service account).
 */
export class VertexPipeline extends pulumi.ComponentResource {
  readonly specObject: gcp.storage.BucketObject;
  readonly specUri: pulumi.Output<string>;
  /** `gs://<bucket>/vertex`: Vertex `runtimeConfig.gcsOutputDirectory` (the trigger's default). */
  readonly pipelineRoot: pulumi.Output<string>;
  readonly region: pulumi.Output<string>;
  readonly serviceAccountEmail: pulumi.Output<string>;

  constructor(name: string, args: VertexPipelineArgs, opts?: pulumi.ComponentResourceOptions) {
    super('creature-vision:pipeline:VertexPipeline', name, {}, opts);
    const bound = pulumi
      .all([args.image, args.env])
      .apply(([image, env]) => JSON.stringify(deployableSpec(args.spec, { image, env }), null, 2));
    this.specObject = new gcp.storage.BucketObject(
      `${name}-spec`,
      { bucket: args.bucket, name: pipelineKeys.spec, contentType: 'application/json', content: bound },
      childOptions(this, opts),
    );
    this.specUri = pulumi.interpolate`gs://${this.specObject.bucket}/${this.specObject.name}`;
    this.pipelineRoot = pulumi.interpolate`gs://${args.bucket}/${pipelineKeys.vertexRoot}`;
    this.region = pulumi.output(args.region);
    this.serviceAccountEmail = pulumi.output(args.serviceAccountEmail);
    this.registerOutputs({ specUri: this.specUri, pipelineRoot: this.pipelineRoot });
  }
}
