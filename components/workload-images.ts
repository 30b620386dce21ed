import * as docker from '@pulumi/docker';
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { WorkloadImage } from '../workloads/core/pipeline-steps';

/** Every workload image and what runs in it (exhaustive over `WorkloadImage`). */
export const IMAGE_PURPOSE: Record<WorkloadImage, string> = {
  inference: 'Cloud Run inference service',
  trigger: 'Cloud Run retraining trigger and the pipeline check-trigger step',
  preprocessing: 'Dataflow Flex Template launcher and the pipeline preprocess step',
  training: 'pipeline train, evaluate and promote steps',
};
export const WORKLOAD_IMAGES = Object.keys(IMAGE_PURPOSE) as WorkloadImage[];

export interface WorkloadImagesArgs {
  /** `<server>/<project>/<repository>` from the registry component. */
  imagePrefix: pulumi.Input<string>;
  /** Registry host to log in to, e.g. `europe-west1-docker.pkg.dev`. */
  server: pulumi.Input<string>;
  /** Tag pushed next to the digest (informational; everything deploys by digest). */
  tag: string;
  /** Build context, relative to the Pulumi project directory. */
  context?: string;
  /** Dockerfile, relative to the Pulumi project directory. */
  dockerfile?: string;
  platform?: string;
}

/**
 * Builds each workload image from the one Dockerfile (`--build-arg WORKLOAD=<name>`) and
 * pushes it to Artifact Registry with a short-lived OAuth access token of the identity
 * running Pulumi (no key files). Consumers use `digests`, `<name>@sha256:...`, so a
 * rebuilt image always rolls out and a moving tag never does.
 */
export class WorkloadImages extends pulumi.ComponentResource {
  readonly images: Record<WorkloadImage, docker.Image>;
  readonly digests: Record<WorkloadImage, pulumi.Output<string>>;

  constructor(name: string, args: WorkloadImagesArgs, opts?: pulumi.ComponentResourceOptions) {
    super('creature-vision:registry:WorkloadImages', name, {}, opts);
    const token = gcp.organizations.getClientConfigOutput({ parent: this }).accessToken;
    const images = {} as Record<WorkloadImage, docker.Image>;
    for (const workload of WORKLOAD_IMAGES) {
      images[workload] = new docker.Image(
        `${name}-${workload}`,
        {
          imageName: pulumi.interpolate`${args.imagePrefix}/${workload}:${args.tag}`,
          build: {
            context: args.context ?? '.',
            dockerfile: args.dockerfile ?? 'workloads/Dockerfile',
            platform: args.platform ?? 'linux/amd64',
            args: { WORKLOAD: workload },
          },
          registry: { server: args.server, username: 'oauth2accesstoken', password: pulumi.secret(token) },
        },
        { parent: this, dependsOn: opts?.dependsOn },
      );
    }
    this.images = images;
    this.digests = Object.fromEntries(WORKLOAD_IMAGES.map((w) => [w, images[w].repoDigest.apply((d) => assertDigest(w, d))])) as Record<
      WorkloadImage,
      pulumi.Output<string>
    >;
    this.registerOutputs({ digests: this.digests });
  }
}

/** A digest reference is `<repository>@sha256:<64 hex>`; anything else must not reach a deployment. */
export function assertDigest(workload: string, ref: string): string {
  if (!/^[^@\s]+@sha256:[0-9a-f]{64}$/.test(ref)) {
    throw new Error(`image ${workload}: expected a digest reference <repository>@sha256:<64 hex digits>, got ${JSON.stringify(ref)}`);
  }
  return ref;
}
