import { evaluate } from '../../policy/rules';
import { TABLE_NAMES } from '../../workloads/core/warehouse/tables';
import { MockRun, runMocked } from '../mock-run';
import { asPolicyResources, container, countByType, ofType, one } from './helpers';

/** One mocked run of the real program with Pulumi.prod.yaml. */
let run: MockRun;
beforeAll(async () => {
  run = await runMocked({ stack: 'prod' });
});

test('prod adds the alerting resources to the dev inventory', () => {
  const counts = countByType(run);
  expect(counts['gcp:monitoring/notificationChannel:NotificationChannel']).toBe(1);
  expect(counts['gcp:logging/metric:Metric']).toBeGreaterThanOrEqual(5);
  expect(counts['gcp:monitoring/alertPolicy:AlertPolicy']).toBe(5);
  expect(counts['gcp:cloudrunv2/service:Service']).toBe(2);
  expect(counts['gcp:bigquery/table:Table']).toBe(TABLE_NAMES.length);
});

test('stateful resources are protected: buckets, dataset, tables, services', () => {
  for (const b of ofType(run, 'gcp:storage/bucket:Bucket')) {
    expect([b.name, b.protect, b.inputs.forceDestroy]).toEqual([b.name, true, false]);
  }
  const dataset = one(run, 'gcp:bigquery/dataset:Dataset', 'warehouse-dataset');
  expect([dataset.protect, dataset.inputs.deleteContentsOnDestroy]).toEqual([true, false]);
  for (const t of ofType(run, 'gcp:bigquery/table:Table')) expect(t.inputs.deletionProtection).toBe(true);
  for (const s of ofType(run, 'gcp:cloudrunv2/service:Service')) expect(s.inputs.deletionProtection).toBe(true);
  for (const j of ofType(run, 'gcp:cloudrunv2/job:Job')) expect(j.inputs.deletionProtection).toBe(true);
  expect(ofType(run, 'gcp:cloudrunv2/job:Job')).toHaveLength(1);
  // Partitions are kept forever in prod (partitionExpirationDays: 0).
  expect(
    (one(run, 'gcp:bigquery/table:Table', 'warehouse-feedback').inputs.timePartitioning as Record<string, unknown>).expirationMs,
  ).toBeUndefined();
});

test('inference keeps a warm instance and nobody but the scheduler account may invoke either service', () => {
  const inference = one(run, 'gcp:cloudrunv2/service:Service', 'inference-service');
  expect((inference.inputs.template as Record<string, unknown>).scaling).toEqual({ minInstanceCount: 1, maxInstanceCount: 10 });
  expect(container(inference).image).toMatch(/@sha256:[0-9a-f]{64}$/);
  const members = ofType(run, 'gcp:cloudrunv2/serviceIamMember:ServiceIamMember').map((r) => r.inputs.member);
  expect(new Set(members)).toEqual(new Set(['serviceAccount:cv-prod-scheduler@creature-vision-prod.iam.gserviceaccount.com']));
});

test('alert policies e-mail the configured address and read metrics scoped to the prod inference service', () => {
  const channel = ofType(run, 'gcp:monitoring/notificationChannel:NotificationChannel')[0];
  expect(channel.inputs).toMatchObject({ type: 'email', labels: { email_address: 'ml-oncall@example.com' } });
  const metrics = ofType(run, 'gcp:logging/metric:Metric');
  expect(metrics.every((m) => String(m.inputs.name).startsWith('cv_prod_'))).toBe(true);
  expect(metrics.some((m) => String(m.inputs.filter).includes('resource.labels.service_name="cv-prod-inference"'))).toBe(true);
  for (const p of ofType(run, 'gcp:monitoring/alertPolicy:AlertPolicy')) {
    expect(p.inputs.notificationChannels).toEqual([channel.state.name]);
    expect(String(p.inputs.displayName)).toMatch(/^Creature Vision \(prod\): /);
  }
});

test('the policy pack passes on the prod stack as a production stack', () => {
  expect(evaluate(asPolicyResources(run), { production: true })).toEqual([]);
});
