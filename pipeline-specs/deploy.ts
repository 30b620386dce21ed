import { bindImage } from './images';
import type { PipelineSpec } from './ir';

/**
 * Turns the checked-in spec into the one Vertex AI runs: the image token bound to the
 * workload image's digest reference (./images.ts) and the workloads' CV_* configuration set on every container.
 *
 * Why env in the spec: Vertex starts each step's container with only what the spec says,
 * and the steps read buckets, warehouse and thresholds from CV_* variables
 * (workloads/core/config/load.ts). Binding them at submit time from the trigger's own
 * configuration (which the stack sets) keeps one source of truth and keeps stack-specific
 * values out of the checked-in JSON. Locally the runner passes its environment instead
 * (and still honours any `container.env`, so a bound spec also runs locally).
 */
export function bindEnv(spec: PipelineSpec, env: Record<string, string>): PipelineSpec {
  const copy = JSON.parse(JSON.stringify(spec)) as PipelineSpec;
  const entries = Object.entries(env).sort(([a], [b]) => a.localeCompare(b));
  for (const { container } of Object.values(copy.deploymentSpec.executors)) {
    const own = new Map((container.env ?? []).map((e) => [e.name, e.value]));
    for (const [name, value] of entries) if (!own.has(name)) own.set(name, value);
    if (own.size) container.env = [...own.entries()].map(([name, value]) => ({ name, value }));
  }
  return copy;
}

export function deployableSpec(spec: PipelineSpec, options: { image: string; env?: Record<string, string> }): PipelineSpec {
  const bound = bindImage(spec, options.image);
  return options.env ? bindEnv(bound, options.env) : bound;
}
