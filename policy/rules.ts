/**
 * The policy rules as plain functions: a resource in, the violations out. The policy pack
 * (./index.ts) wraps them for `pulumi preview --policy-pack policy`; the tests call them
 * directly and over every resource of the mocked dev and prod stacks.
 */

/** What a rule sees of a resource (the shape of `ResourceValidationArgs`, minus helpers). */
export interface PolicyResource {
  type: string;
  name: string;
  urn: string;
  props: Record<string, unknown>;
  opts?: { protect?: boolean };
}

export interface PolicyContext {
  /** Production stacks must protect state and must not be publicly invokable. */
  production: boolean;
}

export type Rule = (r: PolicyResource, ctx: PolicyContext) => string[];

export const PUBLIC_PRINCIPALS = ['allUsers', 'allAuthenticatedUsers'];
export const PRIMITIVE_ROLES = ['roles/owner', 'roles/editor', 'roles/viewer'];

/** The stack a resource belongs to: `urn:pulumi:<stack>::<project>::<type>::<name>`. */
export function stackOfUrn(urn: string): string {
  const m = /^urn:pulumi:([^:]+)::/.exec(urn);
  return m ? m[1] : '';
}

const isPublic = (member: unknown): boolean => typeof member === 'string' && PUBLIC_PRINCIPALS.includes(member);

/** Members granted by an IAM resource, whatever its flavour (Member, Binding, Policy). */
function iamGrants(props: Record<string, unknown>): Array<{ role: string; member: string }> {
  const out: Array<{ role: string; member: string }> = [];
  const role = typeof props.role === 'string' ? props.role : '';
  if (typeof props.member === 'string') out.push({ role, member: props.member });
  if (Array.isArray(props.members)) for (const m of props.members) if (typeof m === 'string') out.push({ role, member: m });
  if (typeof props.policyData === 'string') {
    try {
      const policy = JSON.parse(props.policyData) as { bindings?: Array<{ role?: string; members?: string[] }> };
      for (const b of policy.bindings ?? []) for (const m of b.members ?? []) out.push({ role: b.role ?? '', member: m });
    } catch {
      // Unknown during preview, or not JSON: nothing to check.
    }
  }
  return out;
}

const isIamType = (type: string): boolean => /\/[^:]*:[^:]*(IAM|Iam)(Member|Binding|Policy)$/.test(type);

/** No public buckets: public access prevention enforced, uniform access, no public principals or ACL entities. */
export const noPublicBuckets: Rule = (r) => {
  const v: string[] = [];
  if (r.type === 'gcp:storage/bucket:Bucket') {
    if (r.props.publicAccessPrevention !== 'enforced')
      v.push(`bucket ${r.name}: publicAccessPrevention must be "enforced" (is ${JSON.stringify(r.props.publicAccessPrevention)})`);
    if (r.props.uniformBucketLevelAccess !== true)
      v.push(`bucket ${r.name}: uniformBucketLevelAccess must be true (object ACLs can make objects public)`);
  }
  if (r.type.startsWith('gcp:storage/') && isIamType(r.type)) {
    for (const g of iamGrants(r.props)) if (isPublic(g.member)) v.push(`${r.name}: grants ${g.role} on a bucket to ${g.member}`);
  }
  if (/^gcp:storage\/(bucket|defaultObject|object)AccessControl:/.test(r.type) && isPublic(r.props.entity)) {
    v.push(`${r.name}: ACL entity ${r.props.entity} makes storage public`);
  }
  return v;
};

/** No `allUsers` / `allAuthenticatedUsers` Cloud Run invoker in production. */
export const noPublicInvokerInProd: Rule = (r, ctx) => {
  if (!ctx.production) return [];
  const v: string[] = [];
  if (/^gcp:cloudrun(v2)?\//.test(r.type) && isIamType(r.type)) {
    for (const g of iamGrants(r.props)) {
      if (isPublic(g.member) && (g.role === 'roles/run.invoker' || g.role === ''))
        v.push(`${r.name}: ${g.member} may invoke a Cloud Run service in production`);
    }
  }
  if (r.type === 'gcp:cloudrunv2/service:Service' && r.props.invokerIamDisabled === true) {
    v.push(`service ${r.name}: invokerIamDisabled makes it public in production`);
  }
  return v;
};

/** Workloads authenticate as their attached service account; exported keys are forbidden. */
export const noServiceAccountKeys: Rule = (r) => {
  if (r.type === 'gcp:serviceaccount/key:Key')
    return [`${r.name}: service account keys are forbidden (use attached service accounts or Workload Identity Federation)`];
  if (r.type === 'gcp:storage/hmacKey:HmacKey') return [`${r.name}: HMAC keys for service accounts are forbidden`];
  return [];
};

/** No basic roles (owner, editor, viewer) anywhere. */
export const noPrimitiveRoles: Rule = (r) => {
  const v: string[] = [];
  if (isIamType(r.type)) {
    for (const g of iamGrants(r.props))
      if (PRIMITIVE_ROLES.includes(g.role)) v.push(`${r.name}: basic role ${g.role} granted to ${g.member}`);
    if (PRIMITIVE_ROLES.includes(String(r.props.role)) && iamGrants(r.props).length === 0) v.push(`${r.name}: basic role ${r.props.role}`);
  }
  if (r.type === 'gcp:bigquery/dataset:Dataset' && Array.isArray(r.props.accesses)) {
    for (const a of r.props.accesses as Array<{ role?: string }>) {
      if (a.role && (PRIMITIVE_ROLES.includes(a.role) || ['OWNER', 'WRITER', 'READER'].includes(a.role)))
        v.push(`dataset ${r.name}: basic access role ${a.role}`);
    }
  }
  return v;
};

/** In production, stateful resources survive a mistaken destroy or replace. */
export const deletionProtectionInProd: Rule = (r, ctx) => {
  if (!ctx.production) return [];
  const v: string[] = [];
  switch (r.type) {
    case 'gcp:cloudrunv2/service:Service':
      if (r.props.deletionProtection === false) v.push(`service ${r.name}: deletionProtection must be on in production`);
      break;
    case 'gcp:cloudrunv2/job:Job':
      if (r.props.deletionProtection === false) v.push(`job ${r.name}: deletionProtection must be on in production`);
      break;
    case 'gcp:bigquery/table:Table':
      if (r.props.deletionProtection === false) v.push(`table ${r.name}: deletionProtection must be on in production`);
      break;
    case 'gcp:bigquery/dataset:Dataset':
      if (r.props.deleteContentsOnDestroy === true) v.push(`dataset ${r.name}: deleteContentsOnDestroy must be off in production`);
      if (r.opts && r.opts.protect !== true) v.push(`dataset ${r.name}: must be protected (protect: true) in production`);
      break;
    case 'gcp:storage/bucket:Bucket':
      if (r.props.forceDestroy === true) v.push(`bucket ${r.name}: forceDestroy must be off in production`);
      if (r.opts && r.opts.protect !== true) v.push(`bucket ${r.name}: must be protected (protect: true) in production`);
      break;
  }
  return v;
};

const WORLD = ['0.0.0.0/0', '::/0'];

/** In production, no firewall rule admits the whole internet (Grafana is reached through IAP or named ranges). */
export const noWorldOpenFirewallInProd: Rule = (r, ctx) => {
  if (!ctx.production || r.type !== 'gcp:compute/firewall:Firewall' || r.props.direction === 'EGRESS') return [];
  const ranges = Array.isArray(r.props.sourceRanges) ? (r.props.sourceRanges as unknown[]) : [];
  return ranges
    .filter((x) => typeof x === 'string' && WORLD.includes(x))
    .map((x) => `firewall ${r.name}: source range ${x} opens it to the whole internet in production`);
};

const DIGEST_REF = /^[^@\s]+@sha256:[0-9a-f]{64}$/;

function containerImages(r: PolicyResource): unknown[] {
  const t = r.props.template as Record<string, unknown> | undefined;
  switch (r.type) {
    case 'gcp:cloudrunv2/service:Service':
      return ((t?.containers as Array<{ image?: unknown }>) ?? []).map((c) => c.image);
    case 'gcp:cloudrunv2/job:Job':
      return (((t?.template as Record<string, unknown>)?.containers as Array<{ image?: unknown }>) ?? []).map((c) => c.image);
    case 'gcp:cloudrun/service:Service':
      return (((t?.spec as Record<string, unknown>)?.containers as Array<{ image?: unknown }>) ?? []).map((c) => c.image);
    default:
      return [];
  }
}

/** Cloud Run only rolls out a rebuilt image when given its digest: never deploy a tag. */
export const imagesByDigest: Rule = (r) =>
  containerImages(r)
    // An image not known yet (preview before the build) is checked at update time.
    .filter((image) => typeof image === 'string' && !DIGEST_REF.test(image))
    .map((image) => `${r.name}: image ${image} is not pinned by digest (<repository>@sha256:<digest>)`);

/** The inference service's per-client limits on its public routes (workloads/core/config/schema.ts, inference.rateLimit). */
const CLIENT_LIMIT_ENVS = ['CV_INFERENCE_RATE_LIMIT_PER_MINUTE', 'CV_INFERENCE_RATE_LIMIT_UPLOADS_PER_DAY'];

/**
 * A production service that serves the public keeps its per-client rate limit and daily
 * upload quota on (0 turns one off). Only services that carry the settings are judged.
 */
export const clientLimitsInProd: Rule = (r, ctx) => {
  if (!ctx.production || r.type !== 'gcp:cloudrunv2/service:Service') return [];
  const template = r.props.template as { containers?: Array<{ envs?: Array<{ name?: string; value?: string }> }> } | undefined;
  const envs = (template?.containers ?? []).flatMap((c) => c.envs ?? []);
  return envs
    .filter((e) => e.name && CLIENT_LIMIT_ENVS.includes(e.name) && Number(e.value) === 0)
    .map((e) => `service ${r.name}: ${e.name}=0 turns a per-client limit off in production`);
};

/**
 * Each rule, and whether it applies to production stacks only. A production-only rule names
 * what prod refuses and a non-production stack may still do, but only when its YAML says
 * so explicitly (stacks/exposure.ts traces each such violation to the key; `npm run synth`
 * shows them).
 */
export const RULES: Record<string, { description: string; rule: Rule; productionOnly?: true }> = {
  'no-public-buckets': {
    description: 'Buckets enforce public access prevention and uniform access; no public IAM or ACLs.',
    rule: noPublicBuckets,
  },
  'no-public-invoker-in-prod': {
    description: 'No allUsers/allAuthenticatedUsers Cloud Run invoker in production stacks.',
    rule: noPublicInvokerInProd,
    productionOnly: true,
  },
  'no-service-account-keys': { description: 'No service account keys (or HMAC keys).', rule: noServiceAccountKeys },
  'no-primitive-roles': { description: 'No basic roles: roles/owner, roles/editor, roles/viewer.', rule: noPrimitiveRoles },
  'deletion-protection-in-prod': {
    description: 'Production stacks protect Cloud Run services and jobs, BigQuery datasets and tables, and buckets against deletion.',
    rule: deletionProtectionInProd,
    productionOnly: true,
  },
  'no-world-open-firewall-in-prod': {
    description: 'No firewall rule open to 0.0.0.0/0 or ::/0 in production stacks.',
    rule: noWorldOpenFirewallInProd,
    productionOnly: true,
  },
  'client-limits-in-prod': {
    description: "The inference service's per-client rate limit and daily upload quota are on in production stacks.",
    rule: clientLimitsInProd,
    productionOnly: true,
  },
  'images-by-digest': { description: 'Cloud Run container images are referenced by digest.', rule: imagesByDigest },
};

/** Every violation of every rule for a set of resources (what the tests run over mocked stacks). */
export function evaluate(resources: PolicyResource[], ctx: PolicyContext): Array<{ policy: string; resource: string; message: string }> {
  const out: Array<{ policy: string; resource: string; message: string }> = [];
  for (const r of resources) {
    for (const [policy, { rule }] of Object.entries(RULES)) {
      for (const message of rule(r, ctx)) out.push({ policy, resource: r.urn, message });
    }
  }
  return out;
}

export const DEFAULT_PRODUCTION_STACKS = ['prod', 'production'];
