/**
 * The one-screen review that ends `npm run synth`: what a reviewer must see before
 * approving an `up` — the services and jobs with their probes and who may call them, the
 * identities with every role they get and where, and what the stack exposes, including
 * whatever it opens beyond production's policy and the YAML key that says so.
 */
import { DEFAULT_PRODUCTION_STACKS, evaluate } from '../policy/rules';
import { beyondProductionPolicy, Exposure } from '../stacks/exposure';
import { MockRun, PlannedResource, policyResources } from '../stacks/mock-run';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- provider inputs are untyped JSON here
type Inputs = Record<string, any>;

const short = (role: unknown): string => String(role).replace(/^roles\//, '');

export interface ReviewSummary {
  text: string;
  /** Something would fail review: a policy violation, or an exposure no YAML key explains. */
  blocking: boolean;
}

export function reviewSummary(run: MockRun, config: Record<string, string>): ReviewSummary {
  const production = DEFAULT_PRODUCTION_STACKS.includes(run.stack);
  const custom = run.resources.filter((r) => r.custom);
  const of = (type: string): PlannedResource[] => custom.filter((r) => r.type === type);
  const inputs = (r: PlannedResource): Inputs => r.inputs as Inputs;
  const parents = new Map(run.resources.map((r) => [r.urn, r.name]));

  // Who is who: workload accounts by their member string, buckets by their logical name.
  const who = new Map<string, string>();
  for (const a of of('gcp:serviceaccount/account:Account')) {
    const workload = a.name.slice((parents.get(a.parent ?? '') ?? '').length + 1);
    who.set(`serviceAccount:${a.state.email}`, workload);
    who.set(String(a.state.name), workload);
  }
  const label = (member: unknown): string => who.get(String(member)) ?? (member === 'allUsers' ? 'allUsers (PUBLIC)' : String(member));
  const buckets = new Map(of('gcp:storage/bucket:Bucket').map((b) => [inputs(b).name, inputs(b).labels?.bucket ?? inputs(b).name]));

  const lines: string[] = [];
  const project = config['gcp:project'] ?? '?';
  lines.push(
    `Review: stack ${run.stack} — project ${project}, ${config['gcp:region'] ?? '?'} (${production ? 'production' : 'non-production'})`,
  );

  // Services, jobs, schedules, Grafana.
  lines.push('', 'Services and jobs');
  const invokersOf = (name: string) =>
    of('gcp:cloudrunv2/serviceIamMember:ServiceIamMember')
      .filter((b) => inputs(b).name === name)
      .map((b) => label(inputs(b).member));
  for (const s of of('gcp:cloudrunv2/service:Service')) {
    const i = inputs(s);
    const c = i.template.containers[0];
    lines.push(
      `  service ${i.name}: min ${i.template.scaling.minInstanceCount} / max ${i.template.scaling.maxInstanceCount}, ` +
        `startup ${c.startupProbe?.httpGet?.path ?? '-'}, liveness ${c.livenessProbe?.httpGet?.path ?? '-'}, ` +
        `ingress ${i.ingress === 'INGRESS_TRAFFIC_ALL' ? 'internet' : i.ingress}; invokers: ${invokersOf(i.name).join(', ') || 'nobody'}`,
    );
  }
  for (const j of of('gcp:cloudrunv2/job:Job')) {
    const i = inputs(j);
    const executors = of('gcp:cloudrunv2/jobIamMember:JobIamMember')
      .filter((b) => inputs(b).name === i.name)
      .map((b) => `${label(inputs(b).member)} (${short(inputs(b).role)})`);
    lines.push(
      `  job ${i.name}: ${i.template.taskCount} tasks, ${i.template.template.timeout} per attempt, ${i.template.template.maxRetries} retries; run by: ${[...new Set(executors)].join(', ')}`,
    );
  }
  const schedules = of('gcp:cloudscheduler/job:Job').map((j) => {
    const t = inputs(j).httpTarget;
    return `${t.httpMethod} ${new URL(t.uri).pathname} '${inputs(j).schedule}' as ${label(`serviceAccount:${t.oidcToken.serviceAccountEmail}`)}`;
  });
  if (schedules.length)
    lines.push(`  schedules: ${[...new Set(schedules)].map((s) => `${schedules.filter((x) => x === s).length}× ${s}`).join('; ')}`);
  for (const vm of of('gcp:compute/instance:Instance')) {
    const i = inputs(vm);
    const fw = of('gcp:compute/firewall:Firewall').map(
      (f) =>
        `${inputs(f)
          .allows.map((a: Inputs) => `${a.protocol}:${a.ports.join(',')}`)
          .join(' ')} from ${inputs(f).sourceRanges.join(', ')}`,
    );
    const tunnel = of('gcp:iap/tunnelInstanceIAMMember:TunnelInstanceIAMMember').map((t) => inputs(t).member);
    const publicIp = i.networkInterfaces.some((n: Inputs) => (n.accessConfigs ?? []).length > 0);
    lines.push(
      `  vm ${i.name} (Grafana): ${i.machineType}, ${publicIp ? 'PUBLIC IP' : 'no public IP'}, network ${i.networkInterfaces[0].network}; ` +
        `firewall ${fw.join('; ')}; IAP tunnel: ${tunnel.join(', ') || 'nobody granted'}`,
    );
  }

  const policies = of('gcp:monitoring/alertPolicy:AlertPolicy');
  const emails = of('gcp:monitoring/notificationChannel:NotificationChannel').map((c) => inputs(c).labels?.email_address);
  lines.push(
    policies.length
      ? `  alerts: ${policies.length} policies, e-mailed to ${emails.join(', ')}`
      : '  alerts: none (creature-vision:alerts.enabled is off)',
  );

  // Identities: every role, and where it applies (roles with the same places share a line item).
  lines.push('', 'Identities (roles @ where)');
  const grants = new Map<string, Map<string, string[]>>();
  const add = (member: unknown, role: unknown, place: string) => {
    const byRole = grants.get(label(member)) ?? new Map<string, string[]>();
    byRole.set(short(role), [...(byRole.get(short(role)) ?? []), place]);
    grants.set(label(member), byRole);
  };
  for (const b of of('gcp:projects/iAMMember:IAMMember')) add(inputs(b).member, inputs(b).role, 'project');
  for (const b of of('gcp:storage/bucketIAMMember:BucketIAMMember'))
    add(inputs(b).member, inputs(b).role, `bucket ${buckets.get(inputs(b).bucket) ?? inputs(b).bucket}`);
  for (const b of of('gcp:bigquery/datasetIamMember:DatasetIamMember')) add(inputs(b).member, inputs(b).role, 'dataset');
  for (const b of of('gcp:bigquery/iamMember:IamMember')) add(inputs(b).member, inputs(b).role, `table ${inputs(b).tableId}`);
  for (const b of of('gcp:artifactregistry/repositoryIamMember:RepositoryIamMember')) add(inputs(b).member, inputs(b).role, 'registry');
  for (const b of of('gcp:secretmanager/secretIamMember:SecretIamMember')) add(inputs(b).member, inputs(b).role, 'admin secret');
  for (const b of of('gcp:serviceaccount/iAMMember:IAMMember'))
    add(inputs(b).member, inputs(b).role, `account ${label(inputs(b).serviceAccountId)}`);
  for (const b of of('gcp:cloudrunv2/serviceIamMember:ServiceIamMember')) add(inputs(b).member, inputs(b).role, inputs(b).name);
  for (const b of of('gcp:cloudrunv2/jobIamMember:JobIamMember')) add(inputs(b).member, inputs(b).role, inputs(b).name);
  for (const b of of('gcp:iap/tunnelInstanceIAMMember:TunnelInstanceIAMMember')) add(inputs(b).member, inputs(b).role, 'Grafana VM');
  const width = Math.max(...[...grants.keys()].map((k) => k.length));
  for (const [member, byRole] of grants) {
    const byPlaces = new Map<string, string[]>();
    for (const [role, places] of byRole) {
      const where = [...new Set(places)].join(', ');
      byPlaces.set(where, [...(byPlaces.get(where) ?? []), role]);
    }
    lines.push(`  ${member.padEnd(width)}  ${[...byPlaces].map(([where, roles]) => `${roles.join(', ')} @ ${where}`).join('; ')}`);
  }

  // What `up` exposes.
  lines.push('', `What \`pulumi up --stack ${run.stack}\` exposes`);
  const publicServices = of('gcp:cloudrunv2/serviceIamMember:ServiceIamMember').filter((b) =>
    ['allUsers', 'allAuthenticatedUsers'].includes(inputs(b).member),
  );
  /** A service's container environment (the workload config as CV_* variables). */
  const envOf = (name: unknown): Record<string, string> => {
    const svc = of('gcp:cloudrunv2/service:Service').find((s) => inputs(s).name === name);
    const envs: Array<{ name: string; value: string }> = svc ? (inputs(svc).template.containers[0].envs ?? []) : [];
    return Object.fromEntries(envs.map((e) => [e.name, e.value]));
  };
  for (const b of publicServices) {
    lines.push(
      `  PUBLIC: ${inputs(b).member} may invoke service ${inputs(b).name} (its internal routes check the caller's token themselves)`,
    );
    const env = envOf(inputs(b).name);
    const limit = (v: string | undefined, unit: string) => (v === undefined ? '?' : Number(v) === 0 ? `OFF (${unit})` : `${v} ${unit}`);
    if (env.CV_INFERENCE_RATE_LIMIT_PER_MINUTE !== undefined)
      lines.push(
        `    public routes per client: ${limit(env.CV_INFERENCE_RATE_LIMIT_PER_MINUTE, 'requests/min')}, ` +
          `${limit(env.CV_INFERENCE_RATE_LIMIT_UPLOADS_PER_DAY, 'uploads/day')} (client = X-Forwarded-For behind ${env.CV_INFERENCE_TRUST_PROXY_HOPS ?? '?'} trusted proxy hop(s)); ` +
          `internal routes (GET /predict, GET /status): OIDC token of ${label(`serviceAccount:${env.CV_INFERENCE_INGEST_AUTH_SERVICE_ACCOUNT}`)} only`,
      );
  }
  if (publicServices.length === 0) lines.push('  no public service: every call needs an invoker identity');
  const bucketsOpen = of('gcp:storage/bucket:Bucket').filter((b) => inputs(b).publicAccessPrevention !== 'enforced');
  lines.push(
    bucketsOpen.length
      ? `  buckets WITHOUT public access prevention: ${bucketsOpen.map((b) => inputs(b).name).join(', ')}`
      : `  buckets: none public (public access prevention enforced on all ${of('gcp:storage/bucket:Bucket').length})`,
  );
  const exposures = beyondProductionPolicy(policyResources(run), config);
  const unexplained = production ? [] : exposures.filter((e) => e.explicitKeys.length === 0);
  if (!production) {
    if (exposures.length === 0) lines.push("  nothing beyond production's policy");
    else lines.push(`  beyond production's policy (each set in Pulumi.${run.stack}.yaml):`);
    const byPolicy = new Map<string, Exposure[]>();
    for (const e of exposures) byPolicy.set(e.policy, [...(byPolicy.get(e.policy) ?? []), e]);
    for (const [policy, list] of byPolicy) {
      const keys = [...new Set(list.flatMap((e) => e.explicitKeys))];
      const resources = [...new Set(list.map((e) => e.resource))];
      const what = resources.length === 1 ? resources[0] : `${resources.length} resources (${resources.slice(0, 3).join(', ')}, …)`;
      lines.push(`    ${policy}: ${what} ← ${keys.length ? keys.map((k) => `creature-vision:${k}`).join(', ') : 'NOT SET IN THE YAML'}`);
    }
  }
  const violations = evaluate(policyResources(run), { production });
  lines.push(
    '',
    `Policy pack (policy/, ${production ? 'production' : 'non-production'} stack): ${violations.length ? `${violations.length} violation(s)` : 'no violations'}`,
  );
  for (const v of violations) lines.push(`  [${v.policy}] ${v.message}`);
  return { text: lines.join('\n'), blocking: violations.length > 0 || unexplained.length > 0 };
}
