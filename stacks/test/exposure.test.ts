import { RULES } from '../../policy/rules';
import { beyondProductionPolicy, OPENED_BY, setsExplicitly } from '../exposure';
import { key, policyResources, runMocked, stackConfigFromYaml } from '../mock-run';

/**
 * A non-production stack opens nothing production's policy refuses unless its YAML says so:
 * every default is what production requires, and each thing dev opens traces to a key
 * Pulumi.dev.yaml sets (and `npm run synth` lists, see synth.test.ts).
 */

/** The least a stack must set on Google Cloud: where it goes, a backbone the containers can fetch, 5-field crons. */
const MINIMAL = {
  'gcp:project': 'creature-vision-scratch',
  'gcp:region': 'europe-west1',
  [key('model')]: JSON.stringify({ backbone: 'mobilenet_v3_small' }),
  [key('ingest')]: JSON.stringify({ cron: '*/5 * * * *' }),
  [key('trigger')]: JSON.stringify({ cron: '*/30 * * * *' }),
};

test('every production-only rule names the stack keys that open it', () => {
  const productionOnly = Object.entries(RULES)
    .filter(([, r]) => r.productionOnly)
    .map(([name]) => name);
  expect(Object.keys(OPENED_BY).sort()).toEqual(productionOnly.sort());
});

test('a stack on defaults opens nothing production refuses', async () => {
  const run = await runMocked({ stack: 'scratch', config: MINIMAL });
  expect(beyondProductionPolicy(policyResources(run), MINIMAL)).toEqual([]);
});

test('what dev opens beyond prod’s policy is each set explicitly in Pulumi.dev.yaml', async () => {
  const config = stackConfigFromYaml('dev');
  const found = beyondProductionPolicy(policyResources(await runMocked({ stack: 'dev', config })), config);
  expect(found.filter((e) => e.explicitKeys.length === 0)).toEqual([]);
  expect(new Set(found.map((e) => `${e.policy} ${e.explicitKeys.join(',')}`))).toEqual(
    new Set(['no-public-invoker-in-prod publicInvoker', 'deletion-protection-in-prod deletionProtection,dataLake.forceDestroy']),
  );
  expect(found.map((e) => e.resource)).toContain('inference-run-invoker-allusers');
});

test('a default that opened something would be caught: a world-open Grafana is traced to its key only when the YAML sets it', async () => {
  const config = { ...MINIMAL, [key('grafana')]: JSON.stringify({ publicIp: true, allowedSourceRanges: ['0.0.0.0/0'] }) };
  const found = beyondProductionPolicy(policyResources(await runMocked({ stack: 'scratch', config })), config);
  expect(found.map((e) => [e.policy, e.resource, e.explicitKeys])).toEqual([
    ['no-world-open-firewall-in-prod', 'grafana-ingress', ['grafana.allowedSourceRanges']],
  ]);
  expect(setsExplicitly(MINIMAL, 'grafana.allowedSourceRanges')).toBe(false);
});

test('per-client limits turned off are beyond prod’s policy, traced to the YAML key that turns them off', async () => {
  const config = { ...MINIMAL, [key('inference')]: JSON.stringify({ rateLimit: { uploadsPerDay: 0 } }) };
  const found = beyondProductionPolicy(policyResources(await runMocked({ stack: 'scratch', config })), config);
  // Every service the setting reaches carries it (the trigger service gets the whole workload config too).
  expect(found.map((e) => `${e.resource}: ${e.policy} ← ${e.explicitKeys.join(', ')}`)).toEqual([
    'inference-service: client-limits-in-prod ← inference.rateLimit.uploadsPerDay',
    'trigger-service: client-limits-in-prod ← inference.rateLimit.uploadsPerDay',
  ]);
});

test('prod opens nothing beyond its own policy', async () => {
  const config = stackConfigFromYaml('prod');
  expect(beyondProductionPolicy(policyResources(await runMocked({ stack: 'prod', config })), config)).toEqual([]);
});
