import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { childOptions } from './base';

export interface BackboneUploadArgs {
  /** The models bucket (layout `models`). */
  bucket: pulumi.Input<string>;
  /** Files to upload: object key, local source path, content type (stacks/backbone-files.ts lists them). */
  files: Array<{ key: string; source: string; contentType: string }>;
  /** The key the workloads' `model.backboneUrl` names (the backbone's folder, or its model.json). */
  locationKey: string;
}

/**
 * A pretrained backbone's files as objects in the models bucket, so the services and pipeline
 * steps load it with their own service accounts (`gs://`, read through the object store)
 * instead of from the internet. The keys are content-addressed (layout `modelKeys.backbones`):
 * new files get new keys, and the old objects are kept (`retainOnDelete`) because model
 * versions record the backbone location they were trained with.
 */
export class BackboneUpload extends pulumi.ComponentResource {
  readonly objects: gcp.storage.BucketObject[];
  /** `gs://<bucket>/<locationKey>`: the workloads' `model.backboneUrl`. */
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: BackboneUploadArgs, opts?: pulumi.ComponentResourceOptions) {
    super('creature-vision:storage:BackboneUpload', name, {}, opts);
    const child = childOptions(this, opts);
    this.objects = args.files.map(
      (f) =>
        new gcp.storage.BucketObject(
          `${name}-${f.key.split('/').slice(2).join('-')}`,
          { bucket: args.bucket, name: f.key, contentType: f.contentType, source: new pulumi.asset.FileAsset(f.source) },
          { ...child, retainOnDelete: true },
        ),
    );
    // The URL is known once every object exists: a workload never sees a half-uploaded backbone.
    this.url = pulumi.all([args.bucket, ...this.objects.map((o) => o.name)]).apply(([bucket]) => `gs://${bucket}/${args.locationKey}`);
    this.registerOutputs({ url: this.url });
  }
}
