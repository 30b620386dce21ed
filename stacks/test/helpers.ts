/* eslint-disable @typescript-eslint/no-explicit-any -- tests read untyped provider inputs */
import { MockRun, PlannedResource, policyResources } from '../mock-run';

/** Test helpers over a mocked run's inventory. */
export const customs = (run: MockRun): PlannedResource[] => run.resources.filter((r) => r.custom);
export const ofType = (run: MockRun, type: string): PlannedResource[] => run.resources.filter((r) => r.type === type);

export function one(run: MockRun, type: string, name: string): PlannedResource {
  const found = run.resources.find((r) => r.type === type && r.name === name);
  if (!found)
    throw new Error(
      `no ${type} named ${name}; have ${
        ofType(run, type)
          .map((r) => r.name)
          .join(', ') || 'none of that type'
      }`,
    );
  return found;
}

export function countByType(run: MockRun): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of customs(run)) out[r.type] = (out[r.type] ?? 0) + 1;
  return out;
}

/** The resources as the policy pack sees them. */
export const asPolicyResources = policyResources;

/** Env list of a Cloud Run service → record. */
export function envOf(service: PlannedResource): Record<string, string> {
  const containers = (service.inputs.template as { containers: Array<{ envs: Array<{ name: string; value: string }> }> }).containers;
  return Object.fromEntries(containers[0].envs.map((e) => [e.name, e.value]));
}

export function container(service: PlannedResource): Record<string, any> {
  return (service.inputs.template as { containers: Record<string, any>[] }).containers[0];
}
