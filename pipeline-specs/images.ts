import type { WorkloadImage } from '../workloads/core/pipeline-steps';
import type { PipelineSpec } from './ir';

/**
 * Container images in the compiled spec are stable tokens, bound to digest references at
 * deploy/submit time.
 *
 * Why tokens and not pipeline parameters: the real references are image digests that
 * exist only after `pulumi up` has built and pushed the images, so they cannot be in the
 * checked-in JSON; and a placeholder in `container.image` is not something Vertex AI
 * Pipelines resolves reliably. So the compiled JSON stays deterministic (and diffable in
 * review), and whoever knows the digests substitutes them: the Pulumi pipeline component
 * when it uploads the spec, and the Vertex submitter again from its config (whichever is
 * set wins). A token is deliberately NOT a valid image reference (`://`), so an unbound
 * spec fails at submission with a clear message instead of pulling a stranger's image.
 */
export const IMAGE_TOKEN_PREFIX = 'workload-image://';

export const imageToken = (image: WorkloadImage): string => `${IMAGE_TOKEN_PREFIX}${image}`;

/** Image tokens still present in a spec. */
export function unboundImages(spec: PipelineSpec): WorkloadImage[] {
  const out = new Set<WorkloadImage>();
  for (const { container } of Object.values(spec.deploymentSpec.executors)) {
    if (container.image.startsWith(IMAGE_TOKEN_PREFIX)) out.add(container.image.slice(IMAGE_TOKEN_PREFIX.length) as WorkloadImage);
  }
  return [...out].sort();
}

/**
 * Returns a copy of `spec` with image tokens replaced by the given references (digest refs
 * such as `europe-docker.pkg.dev/p/r/training@sha256:...`). Empty references are ignored.
 * Throws, naming them, if any token is left unbound.
 */
export function bindImages(spec: PipelineSpec, images: Partial<Record<WorkloadImage, string>>): PipelineSpec {
  const copy = JSON.parse(JSON.stringify(spec)) as PipelineSpec;
  for (const { container } of Object.values(copy.deploymentSpec.executors)) {
    if (!container.image.startsWith(IMAGE_TOKEN_PREFIX)) continue;
    const ref = images[container.image.slice(IMAGE_TOKEN_PREFIX.length) as WorkloadImage];
    if (ref) container.image = ref;
  }
  const missing = unboundImages(copy);
  if (missing.length) {
    throw new Error(
      `pipeline spec ${spec.pipelineInfo.name} still has unbound container images for ${missing.join(', ')}; ` +
        `set config pipeline.images.<name> (env CV_PIPELINE_IMAGES_<NAME>) to the image's digest reference`,
    );
  }
  return copy;
}
