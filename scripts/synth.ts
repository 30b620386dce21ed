/**
 * `npm run synth -- --stack dev`: prints the resource tree `pulumi up` would create for a
 * stack, from a mocked run of the real program (no cloud account, no Pulumi CLI): type,
 * name, parent nesting and the inputs a reviewer cares about, and ends with the one-screen
 * review (scripts/review-summary.ts; `--summary` prints only that). Exits 2 when the policy
 * pack refuses something or the stack opens something beyond production's policy that its
 * YAML does not say. `--json` prints the raw inventory instead.
 */
import { parseArgs } from 'node:util';
import { PlannedResource, runMocked, stackConfigFromYaml } from '../stacks/mock-run';
import { reviewSummary } from './review-summary';

/** The inputs worth reading per resource type (dotted paths). */
const KEY_INPUTS: Record<string, string[]> = {
  'gcp:projects/service:Service': ['service'],
  'gcp:serviceaccount/account:Account': ['accountId'],
  'gcp:projects/iAMMember:IAMMember': ['role', 'member'],
  'gcp:serviceaccount/iAMMember:IAMMember': ['role', 'member', 'serviceAccountId'],
  'gcp:storage/bucket:Bucket': [
    'name',
    'location',
    'publicAccessPrevention',
    'uniformBucketLevelAccess',
    'versioning.enabled',
    'forceDestroy',
    'lifecycleRules',
  ],
  'gcp:storage/bucketIAMMember:BucketIAMMember': ['bucket', 'role', 'member'],
  'gcp:storage/bucketObject:BucketObject': ['bucket', 'name', 'contentType', 'source.path'],
  'gcp:bigquery/dataset:Dataset': ['datasetId', 'location', 'deleteContentsOnDestroy'],
  'gcp:bigquery/table:Table': ['tableId', 'timePartitioning', 'clusterings', 'deletionProtection'],
  'gcp:bigquery/datasetIamMember:DatasetIamMember': ['role', 'member'],
  'gcp:bigquery/iamMember:IamMember': ['tableId', 'role', 'member'],
  'gcp:artifactregistry/repository:Repository': ['repositoryId', 'format', 'cleanupPolicies'],
  'gcp:artifactregistry/repositoryIamMember:RepositoryIamMember': ['role', 'member'],
  'docker:index/image:Image': ['imageName', 'build.args', 'build.platform'],
  'gcp:cloudrunv2/service:Service': [
    'name',
    'deletionProtection',
    'template.serviceAccount',
    'template.containers.0.image',
    'template.scaling',
    'template.maxInstanceRequestConcurrency',
    'template.containers.0.resources.limits',
    'template.containers.0.startupProbe.httpGet.path',
    'template.containers.0.livenessProbe.httpGet.path',
  ],
  'gcp:cloudrunv2/serviceIamMember:ServiceIamMember': ['name', 'role', 'member'],
  'gcp:cloudscheduler/job:Job': ['schedule', 'httpTarget.httpMethod', 'httpTarget.uri', 'httpTarget.oidcToken'],
  'gcp:secretmanager/secret:Secret': ['secretId'],
  'gcp:secretmanager/secretIamMember:SecretIamMember': ['role', 'member'],
  'gcp:compute/firewall:Firewall': ['allows', 'sourceRanges', 'targetTags'],
  'gcp:compute/instance:Instance': [
    'machineType',
    'bootDisk.initializeParams.image',
    'networkInterfaces',
    'shieldedInstanceConfig',
    'serviceAccount.email',
  ],
  'gcp:logging/metric:Metric': ['name'],
  'gcp:monitoring/alertPolicy:AlertPolicy': ['displayName', 'severity'],
  'gcp:monitoring/notificationChannel:NotificationChannel': ['type', 'labels'],
  'time:index/sleep:Sleep': ['createDuration'],
  'gcp:iap/tunnelInstanceIAMMember:TunnelInstanceIAMMember': ['role', 'member'],
};

function get(obj: unknown, dotted: string): unknown {
  return dotted
    .split('.')
    .reduce<unknown>((cur, k) => (cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined), obj);
}

function show(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}

export function renderTree(resources: PlannedResource[]): string {
  const children = new Map<string | undefined, PlannedResource[]>();
  const urns = new Set(resources.map((r) => r.urn));
  for (const r of resources) {
    const parent = r.parent && urns.has(r.parent) ? r.parent : undefined;
    children.set(parent, [...(children.get(parent) ?? []), r]);
  }
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number): void => {
    for (const r of children.get(parent) ?? []) {
      const flags = [r.custom ? '' : 'component', r.protect ? 'protected' : ''].filter(Boolean).join(', ');
      lines.push(`${'  '.repeat(depth)}${r.type}  ${r.name}${flags ? `  [${flags}]` : ''}`);
      for (const k of KEY_INPUTS[r.type] ?? []) {
        const v = get(r.inputs, k);
        if (v !== undefined) lines.push(`${'  '.repeat(depth + 2)}${k}: ${show(v)}`);
      }
      walk(r.urn, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      stack: { type: 'string', default: 'dev' },
      json: { type: 'boolean', default: false },
      summary: { type: 'boolean', default: false },
    },
  });
  const config = stackConfigFromYaml(values.stack!);
  const run = await runMocked({ stack: values.stack!, config });
  if (values.json) {
    process.stdout.write(JSON.stringify({ resources: run.resources, outputs: run.outputs }, null, 2) + '\n');
    return;
  }
  if (!values.summary) {
    const custom = run.resources.filter((r) => r.custom);
    const byType = new Map<string, number>();
    for (const r of custom) byType.set(r.type, (byType.get(r.type) ?? 0) + 1);
    process.stdout.write(
      `Planned resources for stack ${run.stack} (mocked run of the stack program with Pulumi.${run.stack}.yaml)\n\n${renderTree(run.resources)}\n\n`,
    );
    process.stdout.write(`${custom.length} resources in ${run.resources.length - custom.length} components:\n`);
    for (const [type, n] of [...byType].sort()) process.stdout.write(`  ${String(n).padStart(3)}  ${type}\n`);
    process.stdout.write(`\nStack outputs:\n${JSON.stringify(run.outputs, null, 2)}\n\n`);
  }
  // The review ends the output, so it is what is on the screen.
  const review = reviewSummary(run, config);
  process.stdout.write(`${review.text}\n`);
  if (review.blocking) process.exitCode = 2;
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
}
