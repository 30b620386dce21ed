import type { PipelineSpec } from './ir';

/**
 * Every step runs the one workload image (workloads/Dockerfile; each step sets its command
 * from workloads/core/entry-points.ts). In the compiled spec the image is a stable token,
 * bound to the image's digest reference at deploy/submit time.
 *
 * Why a token and not a pipeline parameter: the reference is a digest that exists only after
 * `pulumi up` has built and pushed the image, so it cannot be in the checked-in JSON; and a
 * placeholder in `container.image` is not something Vertex AI Pipelines resolves reliably.
 * So the compiled JSON stays deterministic (and diffable in review), and whoever knows the
 * digest substitutes it: the Pulumi pipeline component when it uploads the spec, and the
 * Vertex submitter again from its config (whichever is set wins). The token is deliberately
 * NOT a valid image reference (`://`), so an unbound spec fails at submission with a clear
 * message instead of pulling a stranger's image.
 */
export const WORKLOAD_IMAGE_TOKEN = 'workload-image://workloads';

/** Whether any executor still has the token instead of an image reference. */
export function hasUnboundImage(spec: PipelineSpec): boolean {
  return Object.values(spec.deploymentSpec.executors).some(({ container }) => container.image === WORKLOAD_IMAGE_TOKEN);
}

/**
 * Returns a copy of `spec` with the token replaced by `ref`, the image's digest reference
 * (`europe-docker.pkg.dev/p/r/workloads@sha256:...`). Throws when `ref` is empty and the
 * spec needs it.
 */
export function bindImage(spec: PipelineSpec, ref: string): PipelineSpec {
  const copy = JSON.parse(JSON.stringify(spec)) as PipelineSpec;
  if (!hasUnboundImage(copy)) return copy;
  if (!ref) {
    throw new Error(
      `pipeline spec ${spec.pipelineInfo.name} has an unbound container image (${WORKLOAD_IMAGE_TOKEN}); ` +
        `set config pipeline.image (env CV_PIPELINE_IMAGE) to the workload image's digest reference`,
    );
  }
  for (const { container } of Object.values(copy.deploymentSpec.executors)) {
    if (container.image === WORKLOAD_IMAGE_TOKEN) container.image = ref;
  }
  return copy;
}
