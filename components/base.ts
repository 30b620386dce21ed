import * as pulumi from '@pulumi/pulumi';

/**
 * Small helpers every component shares: how children are parented, how labels are
 * written, and how names are derived, so the components stay one concern each.
 */

/** Options for a component's children: parented to it, and waiting for what the component waits for. */
export function childOptions(parent: pulumi.Resource, opts?: pulumi.ComponentResourceOptions): pulumi.CustomResourceOptions {
  // dependsOn on a component is not inherited by its children; the project services
  // (API enablement) must exist before any child is created, so pass it down explicitly.
  return { parent, dependsOn: opts?.dependsOn };
}

/** `opts` that also wait for `more` (a `dependsOn` may be one resource or a list). */
export function alsoDependOn(opts: pulumi.CustomResourceOptions, ...more: pulumi.Input<pulumi.Resource>[]): pulumi.CustomResourceOptions {
  const d = opts.dependsOn;
  const existing: pulumi.Input<pulumi.Resource>[] = d === undefined ? [] : Array.isArray(d) ? d : [d as pulumi.Input<pulumi.Resource>];
  return { ...opts, dependsOn: [...existing, ...more] };
}

/** GCP label values: lowercase letters, digits, `_` and `-`, at most 63 characters. */
export function gcpLabels(labels: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) {
    out[sanitizeLabel(k)] = sanitizeLabel(v);
  }
  return out;
}

/** A GCP label value (or key) from any string: lowercase letters, digits, `_`, `-`, at most 63 characters. */
export function sanitizeLabel(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '-')
    .slice(0, 63);
}

/** A GCP resource id from parts: lowercase, `-` separated, trimmed to `max` characters. */
export function resourceId(max: number, ...parts: string[]): string {
  const id = parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  return id.slice(0, max).replace(/-$/, '');
}

/** `serviceAccount:<email>` for an IAM binding. */
export function saMember(email: pulumi.Input<string>): pulumi.Output<string> {
  return pulumi.interpolate`serviceAccount:${email}`;
}

/** An IAM principal, with a stable name for the binding resources that grant it something. */
export interface Member {
  member: pulumi.Input<string>;
  /**
   * Names the binding resource (with the role), so adding or removing a grant never renames,
   * and so replaces, another one. Needed when `member` is not a plain string (an account
   * created by the stack): give the workload, e.g. `inference`.
   */
  memberName?: string;
}

/** One role for one member on one resource, the unit of resource-level IAM the components take. */
export interface RoleGrant extends Member {
  role: string;
}

/** `roles/storage.objectViewer` → `storage-objectViewer`. */
const roleSlug = (role: string): string => role.replace(/^roles\//, '').replace(/\./g, '-');

/** `allUsers` → `allusers`, `user:a@example.com` → `user-a-example-com`. */
function memberSlug(m: Member): string {
  if (m.memberName) return m.memberName;
  if (typeof m.member !== 'string') throw new Error('an IAM member computed by the stack needs a memberName to name its binding');
  return m.member
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/**
 * Resource names for role grants, `<prefix>-<role>-<member>`: by role and member, never by
 * position. A role granted twice to the same member is refused (it would be two resources
 * fighting over one binding).
 */
export function grantNames(prefix: string, grants: RoleGrant[]): string[] {
  const names = grants.map((g) => `${prefix}-${roleSlug(g.role)}-${memberSlug(g)}`);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`IAM grant ${dup} is given twice; each role is granted once per member and resource`);
  return names;
}

/** Container env vars for Cloud Run (services and jobs), sorted by name so a diff shows real changes only. */
export function containerEnv(
  env: pulumi.Input<Record<string, pulumi.Input<string>>>,
): pulumi.Output<Array<{ name: string; value: string }>> {
  return pulumi.output(env).apply((e) =>
    Object.entries(e)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, value]) => ({ name, value })),
  );
}
