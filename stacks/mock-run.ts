import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { parse as parseYaml } from 'yaml';
import type { PolicyResource } from '../policy/rules';
import { NAMESPACE, readStackConfig } from './config';
import { createStack } from './program';
import { loadRepoArtifacts, REPO_ROOT, RepoArtifacts } from './repo-artifacts';

/**
 * Runs the stack program against Pulumi's mock monitor: no cloud, no CLI. Every resource
 * the program registers is recorded with its type, name, parent, protect flag and
 * inputs, which is what `npm run synth` prints, what the tests assert on, and what the
 * policy pack is run over. The mocks return the computed outputs a real provider would
 * (emails, URLs, digests...), shaped like the real ones.
 */

export interface PlannedResource {
  urn: string;
  type: string;
  name: string;
  /** Parent URN (the stack for top-level components). */
  parent?: string;
  custom: boolean;
  protect: boolean;
  /** `pulumi destroy` (or a replacement) leaves the cloud resource in place. */
  retainOnDelete: boolean;
  /** URNs this resource waits for (`dependsOn`, expanded to a component's resources, plus input dependencies). */
  dependencies: string[];
  inputs: Record<string, unknown>;
  /** What the mock provider returned (inputs plus computed outputs). */
  state: Record<string, unknown>;
}

export interface MockRun {
  stack: string;
  resources: PlannedResource[];
  outputs: Record<string, unknown>;
}

export const PROJECT = 'creature-vision';

/** Stack config from `Pulumi.<stack>.yaml`, as the flat `namespace:key` → string map Pulumi hands programs. */
export function stackConfigFromYaml(stack: string, file = path.join(REPO_ROOT, `Pulumi.${stack}.yaml`)): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const stacks = readdirSync(REPO_ROOT)
      .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
      .filter(Boolean);
    throw new Error(`no stack config ${file} (${(err as Error).message}); stacks here: ${stacks.join(', ')}`, { cause: err });
  }
  const doc = (parseYaml(text) ?? {}) as { config?: Record<string, unknown> };
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    // Encrypted values cannot be read without the stack's secrets provider; leave them unset.
    if (value && typeof value === 'object' && 'secure' in (value as object)) continue;
    out[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return out;
}

/** Pulumi's wire marker for a secret value: `{[SECRET_SIG]: SECRET_VALUE, value}`. */
const SECRET_SIG = '4dabf18193072939515e22adb298388d';

/**
 * A recorded input value as plain JSON: secrets unwrapped, and assets (which the mocks receive
 * as asset objects holding a promise) as `{ asset: 'file', path }` or `{ asset: 'string', text }`,
 * so the tests, `npm run synth` and the first-boot test can read what `pulumi up` would upload.
 */
export async function plainInputs(u: unknown): Promise<unknown> {
  // Duck-typed: the mocks' asset objects may come from another copy of @pulumi/pulumi (jest's module registry).
  if (pulumi.asset.Asset.isInstance(u)) {
    const a = u as Partial<pulumi.asset.FileAsset & pulumi.asset.StringAsset>;
    if (a.path !== undefined) return { asset: 'file', path: await a.path };
    if (a.text !== undefined) return { asset: 'string', text: await a.text };
  }
  if (Array.isArray(u)) return Promise.all(u.map(plainInputs));
  if (u && typeof u === 'object' && SECRET_SIG in u) return plainInputs((u as unknown as { value: unknown }).value);
  if (u && typeof u === 'object')
    return Object.fromEntries(
      await Promise.all(Object.entries(u as Record<string, unknown>).map(async ([k, x]) => [k, await plainInputs(x)])),
    );
  return u;
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * What the mock provider answers for a new resource: its inputs plus the computed outputs
 * a real provider would return. The in-process mocks and the mocked gRPC engine
 * (stacks/test/mock-engine.ts) both answer with this.
 */
export function mockResourceState(type: string, name: string, inputs: Record<string, unknown>, project: string): Record<string, unknown> {
  return { ...inputs, ...computed(type, name, inputs, project) };
}

/** The project number the mocks give every project. */
const MOCK_PROJECT_NUMBER = '123456789012';

/** What the mock provider answers for a provider function (invoke). */
export function mockInvoke(token: string, config: Record<string, string>): Record<string, unknown> {
  if (token === 'gcp:organizations/getProject:getProject') {
    const projectId = config['gcp:project'] ?? 'mock-project';
    return { projectId, name: projectId, number: MOCK_PROJECT_NUMBER, id: `projects/${projectId}`, labels: {} };
  }
  if (token === 'gcp:organizations/getClientConfig:getClientConfig') {
    return {
      accessToken: 'mock-access-token',
      project: config['gcp:project'] ?? 'mock-project',
      region: config['gcp:region'] ?? '',
      zone: '',
      id: 'client',
      defaultLabels: {},
    };
  }
  return {};
}

/** Computed outputs per resource type, shaped like the real provider's. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- provider inputs are untyped JSON here
function computed(type: string, name: string, inputs: Record<string, any>, project: string): Record<string, unknown> {
  switch (type) {
    case 'gcp:serviceaccount/account:Account': {
      const email = `${inputs.accountId}@${project}.iam.gserviceaccount.com`;
      return {
        email,
        member: `serviceAccount:${email}`,
        name: `projects/${project}/serviceAccounts/${email}`,
        uniqueId: sha(email).slice(0, 21),
      };
    }
    case 'gcp:storage/bucket:Bucket':
      return { url: `gs://${inputs.name}`, selfLink: `https://www.googleapis.com/storage/v1/b/${inputs.name}` };
    case 'gcp:storage/bucketObject:BucketObject':
      return {
        mediaLink: `https://storage.googleapis.com/download/storage/v1/b/${inputs.bucket}/o/${encodeURIComponent(inputs.name)}`,
        md5hash: sha(typeof inputs.content === 'string' ? inputs.content : JSON.stringify(inputs.content ?? inputs.source ?? null)).slice(
          0,
          24,
        ),
      };
    case 'gcp:bigquery/dataset:Dataset':
    case 'gcp:bigquery/table:Table':
      return { selfLink: `https://bigquery.googleapis.com/bigquery/v2/projects/${project}/datasets/${inputs.datasetId}` };
    case 'gcp:artifactregistry/repository:Repository':
      return {
        name: inputs.repositoryId,
        project: inputs.project ?? project,
        registryUri: `${inputs.location}-docker.pkg.dev/${inputs.project ?? project}/${inputs.repositoryId}`,
      };
    case 'docker:index/image:Image': {
      const repo = String(inputs.imageName).replace(/:[^:/]+$/, '');
      return {
        repoDigest: `${repo}@sha256:${sha(`${inputs.imageName}|${JSON.stringify(inputs.build)}`)}`,
        baseImageName: inputs.imageName,
      };
    }
    case 'gcp:cloudrunv2/service:Service': {
      // Cloud Run answers on two URLs: the hash-based `uri`, and the deterministic one.
      const uri = `https://${inputs.name}-${sha(String(inputs.name)).slice(0, 10)}-ew.a.run.app`;
      return { uri, urls: [uri, `https://${inputs.name}-${MOCK_PROJECT_NUMBER}.${inputs.location}.run.app`] };
    }
    case 'gcp:secretmanager/secret:Secret':
      return { name: `projects/${project}/secrets/${inputs.secretId}` };
    case 'gcp:compute/instance:Instance':
      return {
        networkInterfaces: (inputs.networkInterfaces ?? []).map((nic: Record<string, unknown>, i: number) => ({
          ...nic,
          networkIp: `10.132.0.${10 + i}`,
          accessConfigs: ((nic.accessConfigs as Record<string, unknown>[] | undefined) ?? []).map((a: Record<string, unknown>) => ({
            ...a,
            natIp: '203.0.113.10',
          })),
        })),
      };
    case 'gcp:monitoring/notificationChannel:NotificationChannel':
      return { name: `projects/${project}/notificationChannels/${sha(name).slice(0, 12)}` };
    case 'random:index/randomPassword:RandomPassword':
      return { result: `mock-${sha(name).slice(0, 20)}` };
    default:
      return {};
  }
}

/** What a registration says about a resource (the gRPC RegisterResourceRequest's getters). */
export interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProtect(): boolean | undefined;
  getRetainondelete(): boolean | undefined;
  getDependenciesList(): string[];
}

/** The record of one registration, as every mocked run keeps it. */
export function plannedResource(
  req: RegisterRequest,
  urn: string,
  inputs: Record<string, unknown>,
  state: Record<string, unknown>,
): PlannedResource {
  return {
    urn,
    type: req.getType(),
    name: req.getName(),
    parent: req.getParent() || undefined,
    custom: req.getCustom(),
    protect: req.getProtect() === true,
    retainOnDelete: req.getRetainondelete() === true,
    dependencies: req.getDependenciesList(),
    inputs,
    state,
  };
}

/**
 * Runs the program for `stack` with `config` (default: the stack's YAML file) under mocks
 * and returns every registered resource and the stack outputs.
 */
export async function runMocked(options: { stack: string; config?: Record<string, string>; artifacts?: RepoArtifacts }): Promise<MockRun> {
  const config = options.config ?? stackConfigFromYaml(options.stack);
  return runProgramMocked(options.stack, config, () => createStack(readStackConfig(), options.artifacts ?? loadRepoArtifacts()));
}

/** Runs any program (a stack, or a single component in tests) under the recording mocks. */
export async function runProgramMocked(stack: string, config: Record<string, string>, program: () => unknown): Promise<MockRun> {
  const project = config['gcp:project'] ?? 'mock-project';
  const pending: Array<{ type: string; name: string; inputs: Record<string, unknown>; state: Record<string, unknown> }> = [];

  await pulumi.runtime.setMocks(
    {
      async newResource(args) {
        const inputs = (await plainInputs(args.inputs ?? {})) as Record<string, unknown>;
        const state = mockResourceState(args.type, args.name, inputs, project);
        pending.push({ type: args.type, name: args.name, inputs, state });
        return { id: `${args.name}-id`, state };
      },
      call: (args) => mockInvoke(args.token, config),
    },
    PROJECT,
    stack,
    false,
  );

  // Wrap the mock monitor to also record parent and protect, which `newResource` is not given.
  const resources: PlannedResource[] = [];
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: RegisterRequest, cb: (err: unknown, res: { getUrn(): string } | undefined) => void): Promise<void>;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) =>
    register(req, (err, res) => {
      if (res) {
        const recorded = pending.find((p) => p.type === req.getType() && p.name === req.getName());
        if (recorded) pending.splice(pending.indexOf(recorded), 1);
        resources.push(plannedResource(req, res.getUrn(), recorded?.inputs ?? {}, recorded?.state ?? {}));
      }
      cb(err, res);
    });

  pulumi.runtime.setAllConfig(config, []);
  const outputs = (await pulumi.runtime.runInPulumiStack(async () => program())) ?? {};
  await settle(() => resources.length);
  return { stack, resources, outputs: outputs as Record<string, unknown> };
}

/** Waits until no new resource has been registered for a few turns of the event loop. */
async function settle(count: () => number): Promise<void> {
  let last = -1;
  let stable = 0;
  while (stable < 5) {
    await new Promise((r) => setTimeout(r, 5));
    const now = count();
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
}

/** The config key prefix (for callers building config maps by hand). */
export const key = (k: string): string => `${NAMESPACE}:${k}`;

/** The declared resources as the policy pack sees them (props are the inputs the program sent). */
export function policyResources(run: MockRun): PolicyResource[] {
  return run.resources
    .filter((r) => r.custom)
    .map((r) => ({ type: r.type, name: r.name, urn: r.urn, props: r.inputs, opts: { protect: r.protect } }));
}
