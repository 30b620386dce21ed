import { ResourceValidationPolicy } from '@pulumi/policy';
import { DEFAULT_PRODUCTION_STACKS, RULES, stackOfUrn } from './rules';

/** The rules as mandatory ResourceValidationPolicies; which stacks count as production is pack config. */
export const policies: ResourceValidationPolicy[] = Object.entries(RULES).map(([name, { description, rule }]) => ({
  name,
  description,
  enforcementLevel: 'mandatory',
  configSchema: {
    properties: {
      productionStacks: { type: 'array', items: { type: 'string' }, default: DEFAULT_PRODUCTION_STACKS },
    },
  },
  validateResource: (args, reportViolation) => {
    const { productionStacks = DEFAULT_PRODUCTION_STACKS } = args.getConfig<{ productionStacks?: string[] }>();
    const production = productionStacks.includes(stackOfUrn(args.urn));
    for (const message of rule({ type: args.type, name: args.name, urn: args.urn, props: args.props, opts: args.opts }, { production })) {
      reportViolation(message);
    }
  },
}));
