import * as docker from '@pulumi/docker';
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import * as path from 'node:path';

/**
 * The build context (the repository root) and the Dockerfile, from this file's own location,
 * never from the working directory (the Pulumi CLI's is the project root, but synth, tests
 * and tools may run the program from anywhere).
 */
export const BUILD_CONTEXT = path.resolve(__dirname, '..');
export const DOCKERFILE = path.join(BUILD_CONTEXT, 'workloads', 'Dockerfile');
/** The repository in Artifact Registry the image is pushed to (`<imagePrefix>/workloads`). */
export const IMAGE_NAME = 'workloads';

export interface WorkloadImageArgs {
  /** `<server>/<project>/<repository>` from the Artifact Registry component. */
  imagePrefix: pulumi.Input<string>;
  /** Registry host to log in to, e.g. `europe-west1-docker.pkg.dev`. */
  server: pulumi.Input<string>;
  /** Tag pushed next to the digest (informational; everything deploys by digest). */
  tag: string;
  /**
   * Base image of both stages (the Dockerfile's NODE_IMAGE), e.g.
   * `node:22-bookworm-slim@sha256:<digest>` to pin it; empty: the Dockerfile's default.
   */
  baseImage?: string;
  platform?: string;
}

/**
 * Builds the one workload image from workloads/Dockerfile (every Cloud Run service, the
 * Cloud Run job and every pipeline step runs it, each with its own command from
 * workloads/core/entry-points.ts) and pushes it to Artifact Registry with a short-lived
 * OAuth access token of the identity running Pulumi (no key files). Consumers use
 * `digest`, `<repository>@sha256:...`, so a rebuilt image always rolls out and a moving tag
 * never does.
 */
export class WorkloadImage extends pulumi.ComponentResource {
  readonly image: docker.Image;
  readonly digest: pulumi.Output<string>;

  constructor(name: string, args: WorkloadImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super('creature-vision:images:WorkloadImage', name, {}, opts);
    const token = gcp.organizations.getClientConfigOutput({ parent: this }).accessToken;
    this.image = new docker.Image(
      `${name}-image`,
      {
        imageName: pulumi.interpolate`${args.imagePrefix}/${IMAGE_NAME}:${args.tag}`,
        build: {
          context: BUILD_CONTEXT,
          dockerfile: DOCKERFILE,
          platform: args.platform ?? 'linux/amd64',
          args: args.baseImage ? { NODE_IMAGE: args.baseImage } : {},
        },
        registry: { server: args.server, username: 'oauth2accesstoken', password: pulumi.secret(token) },
      },
      { parent: this, dependsOn: opts?.dependsOn },
    );
    this.digest = this.image.repoDigest.apply((d) => assertDigest(IMAGE_NAME, d));
    this.registerOutputs({ digest: this.digest });
  }
}

/** A digest reference is `<repository>@sha256:<64 hex>`; anything else must not reach a deployment. */
export function assertDigest(what: string, ref: string): string {
  if (!/^[^@\s]+@sha256:[0-9a-f]{64}$/.test(ref)) {
    throw new Error(`image ${what}: expected a digest reference <repository>@sha256:<64 hex digits>, got ${JSON.stringify(ref)}`);
  }
  return ref;
}
