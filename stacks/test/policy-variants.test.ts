import { DEFAULT_PRODUCTION_STACKS, evaluate, PolicyResource, stackOfUrn } from '../../policy/rules';
import { MockRun, runMocked, stackConfigFromYaml } from '../mock-run';
import { asPolicyResources } from './helpers';

/**
 * Deliberately broken variants: the policy pack must catch them. The base is the dev
 * configuration deployed as a stack named `prod` (public invoker, no deletion protection,
 * force-destroy buckets), and then single resources are broken by hand.
 */
let run: MockRun;
let resources: PolicyResource[];
beforeAll(async () => {
  run = await runMocked({ stack: 'prod', config: stackConfigFromYaml('dev') });
  resources = asPolicyResources(run);
});

const production = () => ({ production: DEFAULT_PRODUCTION_STACKS.includes(stackOfUrn(resources[0].urn)) });
const violations = (rs: PolicyResource[]) => evaluate(rs, production()).map((v) => `${v.policy} ${v.resource.split('::').pop()}`);

test('dev settings on a production stack violate the public-invoker and deletion-protection policies', () => {
  expect(production().production).toBe(true);
  const found = violations(resources);
  expect(found).toContain('no-public-invoker-in-prod inference-run-invoker-allusers');
  expect(found).toContain('deletion-protection-in-prod inference-service');
  expect(found).toContain('deletion-protection-in-prod trigger-service');
  expect(found).toContain('deletion-protection-in-prod warehouse-dataset');
  expect(found).toContain('deletion-protection-in-prod warehouse-prediction_events');
  for (const b of ['raw', 'datasets', 'models', 'pipeline']) expect(found).toContain(`deletion-protection-in-prod lake-${b}`);
  // Nothing else is wrong with it.
  expect(new Set(found.map((f) => f.split(' ')[0]))).toEqual(new Set(['no-public-invoker-in-prod', 'deletion-protection-in-prod']));
});

function broken(name: string, change: (r: PolicyResource) => PolicyResource): PolicyResource[] {
  let hit = false;
  const out = resources.map((r) => {
    if (r.name !== name) return r;
    hit = true;
    return change(JSON.parse(JSON.stringify(r)) as PolicyResource);
  });
  if (!hit) throw new Error(`no resource ${name}`);
  return out;
}

test('a Cloud Run image given by tag violates images-by-digest', () => {
  const rs = broken('inference-service', (r) => {
    (r.props.template as { containers: { image: string }[] }).containers[0].image = 'europe-west1-docker.pkg.dev/p/r/inference:latest';
    return r;
  });
  expect(violations(rs)).toContain('images-by-digest inference-service');
});

test('a bucket without public access prevention, or granted to allUsers, violates no-public-buckets', () => {
  const rs = broken('lake-raw', (r) => ({ ...r, props: { ...r.props, publicAccessPrevention: 'inherited' } }));
  expect(violations(rs)).toContain('no-public-buckets lake-raw');
  const grant = resources.find((r) => r.type === 'gcp:storage/bucketIAMMember:BucketIAMMember')!;
  const rs2 = broken(grant.name, (r) => ({ ...r, props: { ...r.props, member: 'allUsers' } }));
  expect(violations(rs2)).toContain(`no-public-buckets ${grant.name}`);
});

test('a service account key or a basic role anywhere is a violation', () => {
  const key: PolicyResource = {
    type: 'gcp:serviceaccount/key:Key',
    name: 'ci-key',
    urn: resources[0].urn.replace(/::[^:]+$/, '::ci-key'),
    props: {},
  };
  expect(violations([...resources, key])).toContain('no-service-account-keys ci-key');
  const binding = resources.find((r) => r.type === 'gcp:projects/iAMMember:IAMMember')!;
  const rs = broken(binding.name, (r) => ({ ...r, props: { ...r.props, role: 'roles/editor' } }));
  expect(violations(rs)).toContain(`no-primitive-roles ${binding.name}`);
});
