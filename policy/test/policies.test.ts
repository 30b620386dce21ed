import type { ResourceValidationArgs } from '@pulumi/policy';
import { policies } from '../policies';
import { RULES } from '../rules';

/** The pack's ResourceValidationPolicies, driven the way the Pulumi engine drives them. */
function violations(
  policyName: string,
  resource: { type: string; name: string; stack: string; props: Record<string, unknown> },
  config = {},
): string[] {
  const policy = policies.find((p) => p.name === policyName)!;
  const out: string[] = [];
  const args = {
    type: resource.type,
    name: resource.name,
    urn: `urn:pulumi:${resource.stack}::creature-vision::${resource.type}::${resource.name}`,
    props: resource.props,
    opts: {
      protect: false,
      ignoreChanges: [],
      aliases: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
      additionalSecretOutputs: [],
    },
    stackTags: new Map(),
    getConfig: () => config,
  } as unknown as ResourceValidationArgs;
  const validate = policy.validateResource as (a: ResourceValidationArgs, report: (m: string) => void) => void;
  validate(args, (m) => out.push(m));
  return out;
}

test('every rule is a mandatory policy', () => {
  expect(policies.map((p) => p.name).sort()).toEqual(Object.keys(RULES).sort());
  expect(policies.every((p) => p.enforcementLevel === 'mandatory')).toBe(true);
});

test('production is decided by the stack name in the URN (default: prod, production)', () => {
  const invoker = {
    type: 'gcp:cloudrunv2/serviceIamMember:ServiceIamMember',
    name: 'inv',
    props: { role: 'roles/run.invoker', member: 'allUsers' },
  };
  expect(violations('no-public-invoker-in-prod', { ...invoker, stack: 'prod' })).toHaveLength(1);
  expect(violations('no-public-invoker-in-prod', { ...invoker, stack: 'dev' })).toEqual([]);
  expect(violations('no-public-invoker-in-prod', { ...invoker, stack: 'live' }, { productionStacks: ['live'] })).toHaveLength(1);
});
