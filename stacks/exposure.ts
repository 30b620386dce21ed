import { evaluate, PolicyResource, RULES } from '../policy/rules';
import { NAMESPACE } from './config';

/**
 * Which stack config keys make a stack do what production's policy refuses. A
 * non-production stack may do these things only when its `Pulumi.<stack>.yaml` sets one
 * of the keys explicitly: every default is what production requires (tested), so nothing
 * beyond prod's policy can come from a default.
 */
export const OPENED_BY: Record<string, readonly string[]> = {
  'no-public-invoker-in-prod': ['publicInvoker'],
  'deletion-protection-in-prod': ['deletionProtection', 'dataLake.forceDestroy'],
  'no-world-open-firewall-in-prod': ['grafana.allowedSourceRanges'],
  'client-limits-in-prod': ['inference.rateLimit.perMinute', 'inference.rateLimit.uploadsPerDay'],
};

export interface Exposure {
  policy: string;
  resource: string;
  message: string;
  /** The keys that open it which the stack's YAML sets explicitly (empty: it came from elsewhere). */
  explicitKeys: string[];
}

/** Whether a `namespace:key` config (flat, values JSON or strings) sets the dotted `key` itself. */
export function setsExplicitly(config: Record<string, string>, dotted: string): boolean {
  const [top, ...rest] = dotted.split('.');
  const raw = config[`${NAMESPACE}:${top}`];
  if (raw === undefined) return false;
  if (rest.length === 0) return true;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return false;
  }
  for (const k of rest) {
    if (value === null || typeof value !== 'object' || !(k in (value as object))) return false;
    value = (value as Record<string, unknown>)[k];
  }
  return true;
}

/**
 * What this stack opens that production's policy refuses, each with the explicit YAML keys
 * that open it. For a production stack this is what the policy pack reports anyway.
 */
export function beyondProductionPolicy(resources: PolicyResource[], config: Record<string, string>): Exposure[] {
  return evaluate(resources, { production: true })
    .filter((v) => RULES[v.policy].productionOnly)
    .map((v) => ({
      ...v,
      resource: v.resource.split('::').pop() ?? v.resource,
      explicitKeys: (OPENED_BY[v.policy] ?? []).filter((k) => setsExplicitly(config, k)),
    }));
}
