import { MockRun, PlannedResource, runMocked } from '../mock-run';
import { customs, ofType, one } from './helpers';

/**
 * What the first `pulumi up` on a fresh project must wait for, as declared dependencies:
 * Google's APIs answer 403 for minutes after they are enabled, and an alert policy over a
 * log-based metric fails with 404 until Monitoring sees the metric. Both waits are
 * deliberate time.Sleep resources that everything after them depends on.
 */

const SLEEP = 'time:index/sleep:Sleep';

/** Every URN `r` waits for, directly or through what it waits for. */
function waitsFor(run: MockRun, r: PlannedResource): Set<string> {
  const byUrn = new Map(run.resources.map((x) => [x.urn, x]));
  const seen = new Set<string>();
  const stack = [...r.dependencies];
  while (stack.length) {
    const urn = stack.pop()!;
    if (seen.has(urn)) continue;
    seen.add(urn);
    stack.push(...(byUrn.get(urn)?.dependencies ?? []));
  }
  return seen;
}

describe.each(['dev', 'prod'])('the %s stack’s first up', (stack) => {
  let run: MockRun;
  beforeAll(async () => {
    run = await runMocked({ stack });
  });

  test('waits after enabling the APIs, and nothing that calls them starts before the wait', () => {
    const wait = one(run, SLEEP, 'services-propagation');
    const apis = ofType(run, 'gcp:projects/service:Service');
    expect(apis.length).toBeGreaterThan(0);
    expect(new Set(wait.dependencies)).toEqual(new Set(apis.map((a) => a.urn)));
    expect(wait.inputs).toMatchObject({
      createDuration: '120s',
      triggers: {
        apis: apis
          .map((a) => a.inputs.service)
          .sort()
          .join(','),
      },
    });
    const early = customs(run)
      .filter((r) => r.type !== 'gcp:projects/service:Service' && r.urn !== wait.urn)
      .filter((r) => !waitsFor(run, r).has(wait.urn))
      .map((r) => `${r.type} ${r.name}`);
    expect(early).toEqual([]);
  });

  test('every Cloud Run service starts on its process being up (/healthz), never on a model being loaded (/readyz)', () => {
    // A fresh stack has no model until images are ingested through the inference service itself.
    const probes = ofType(run, 'gcp:cloudrunv2/service:Service').map((s) => {
      const c = (s.inputs.template as { containers: Array<{ startupProbe: { httpGet: { path: string } } }> }).containers[0];
      return [s.name, c.startupProbe.httpGet.path];
    });
    expect(probes.sort()).toEqual([
      ['inference-service', '/healthz'],
      ['trigger-service', '/healthz'],
    ]);
  });
});

describe('prod alerting', () => {
  let run: MockRun;
  beforeAll(async () => {
    run = await runMocked({ stack: 'prod' });
  });

  test('every alert policy waits until its log-based metrics are visible to Monitoring', () => {
    const wait = one(run, SLEEP, 'alerts-metrics-visible');
    const metrics = ofType(run, 'gcp:logging/metric:Metric');
    expect(wait.inputs).toMatchObject({ createDuration: '600s' });
    for (const m of metrics) expect(wait.dependencies).toContain(m.urn);
    const policies = ofType(run, 'gcp:monitoring/alertPolicy:AlertPolicy');
    expect(policies.length).toBeGreaterThan(0);
    for (const p of policies) expect([p.name, p.dependencies.includes(wait.urn)]).toEqual([p.name, true]);
  });

  test('every condition filter names a monitored resource type (the Monitoring API refuses one without)', () => {
    for (const p of ofType(run, 'gcp:monitoring/alertPolicy:AlertPolicy')) {
      const conditions = p.inputs.conditions as Array<{
        conditionThreshold?: { filter: string; denominatorFilter?: string };
        conditionAbsent?: { filter: string };
      }>;
      for (const c of conditions) {
        for (const f of [c.conditionThreshold?.filter, c.conditionThreshold?.denominatorFilter, c.conditionAbsent?.filter]) {
          if (f !== undefined) expect([p.name, f]).toEqual([p.name, expect.stringMatching(/(^| AND )resource\.type="[^"]+"/)]);
        }
      }
    }
  });
});
