import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { WORKLOAD_IMAGE_TOKEN } from '../../pipeline-specs/images';
import type { PipelineSpec } from '../../pipeline-specs/ir';
import { bigQuerySchema } from '../../workloads/core/warehouse/schema-dsl';
import { TABLE_NAMES, tableDef } from '../../workloads/core/warehouse/tables';
import { datasetKeys, pipelineKeys, rawKeys, stagingKeys, type BucketName } from '../../workloads/core/layout';
import { lifecycleRules } from '../data-lake';
import { grafanaStartupScript, MAX_METADATA_VALUE, packProvisioning, RETRY_FUNCTION, unpackProvisioning } from '../grafana-startup';
import { cleanupPolicies } from '../artifact-registry';
import { cronProblem } from '../scheduler';
import { deployableSpec } from '../../pipeline-specs/deploy';
import { tableSchemaJson } from '../warehouse';
import { assertDigest } from '../workload-image';

const DIGEST = (w: string) => `europe-west1-docker.pkg.dev/p/r/${w}@sha256:${'0123456789abcdef'.repeat(4)}`;

describe('Cloud Scheduler cron', () => {
  test.each(['*/5 * * * *', '0 3 * * 1-5', '15,45 */2 1 jan-jun mon', '0 0 1 * *'])('%s is accepted', (cron) =>
    expect(cronProblem(cron)).toBeUndefined(),
  );
  test('six fields (croner seconds) are refused with the reason', () =>
    expect(cronProblem('*/10 * * * * *')).toBe(
      'must be a 5-field cron (minute hour day-of-month month day-of-week) for Cloud Scheduler, got 6 field(s)',
    ));
  test('garbage fields are refused', () => expect(cronProblem('every 5 minutes please now')).toMatch(/cron field "every" is not valid/));
});

describe('Artifact Registry cleanup policies', () => {
  test('keep N most recent, delete untagged older than X days', () =>
    expect(cleanupPolicies({ keepCount: 3, deleteUntaggedAfterDays: 2 })).toEqual([
      { id: 'keep-most-recent', action: 'KEEP', mostRecentVersions: { keepCount: 3 } },
      { id: 'delete-old-untagged', action: 'DELETE', condition: { tagState: 'UNTAGGED', olderThan: '172800s' } },
    ]));
  test('a keep count below 1 is refused', () =>
    expect(() => cleanupPolicies({ keepCount: 0, deleteUntaggedAfterDays: 2 })).toThrow('keepCount = 0'));
});

describe('bucket lifecycle rules', () => {
  const l = {
    rawNearlineAfterDays: 30,
    unlabelledUploadsExpireDays: 10,
    pipelineRunsExpireDays: 7,
    stagingExpireDays: 2,
    noncurrentModelsExpireDays: 14,
  };
  const deletes = (bucket: BucketName) =>
    lifecycleRules(bucket, l)
      .filter((r) => (r.action as { type: string }).type === 'Delete')
      .map((r) => r.condition);
  test('dataset versions are immutable: never expired; only abandoned staged parts are', () =>
    expect(deletes('datasets')).toEqual([{ age: 2, matchesPrefixes: [datasetKeys.stagingPrefix] }]));
  test('raw images cool down to NEARLINE, overwritten pointers expire, run outputs expire', () => {
    expect(lifecycleRules('raw', l)).toContainEqual({
      action: { type: 'SetStorageClass', storageClass: 'NEARLINE' },
      condition: { age: 30, matchesPrefixes: ['images/'], matchesStorageClasses: ['STANDARD'] },
    });
    expect(lifecycleRules('models', l)).toContainEqual({
      action: { type: 'Delete' },
      condition: { daysSinceNoncurrentTime: 14, withState: 'ARCHIVED' },
    });
    expect(deletes('pipeline')).toEqual([{ age: 7, matchesPrefixes: ['runs/', 'vertex/'] }]);
  });
  test('unlabelled uploads expire after the configured days; labels and ingested images never do', () => {
    expect(deletes('raw')).toEqual([{ age: 10, matchesPrefixes: [rawKeys.uploadsPrefix] }]);
    const covered = (key: string) =>
      deletes('raw').some((c) => (c as { matchesPrefixes: string[] }).matchesPrefixes.some((p) => key.startsWith(p)));
    expect(covered(rawKeys.upload('abc'))).toBe(true);
    expect(covered(rawKeys.label('abc'))).toBe(false);
    expect(covered(rawKeys.image('abc', 'jpg'))).toBe(false);
  });
  test('the prefixes are the object layout’s: a staged part, a run record and an image key fall under them', () => {
    const covers = (bucket: BucketName, key: string) =>
      lifecycleRules(bucket, l).some((r) =>
        (r.condition as { matchesPrefixes?: string[] }).matchesPrefixes?.some((p) => key.startsWith(p)),
      );
    expect(covers('datasets', stagingKeys.part('v20261123T160912Z-ab12', 0, 4, 'tfrecord'))).toBe(true);
    expect(covers('datasets', datasetKeys.manifest('v20261123T160912Z-ab12'))).toBe(false);
    expect(covers('pipeline', pipelineKeys.runRecord('run-1'))).toBe(true);
    expect(covers('pipeline', pipelineKeys.spec)).toBe(false);
    expect(covers('raw', rawKeys.image('abc', 'jpg'))).toBe(true);
    expect(covers('raw', rawKeys.label('abc'))).toBe(false);
  });
});

test('BigQuery table schemas are the workload definitions, serialised', () => {
  for (const t of TABLE_NAMES) expect(JSON.parse(tableSchemaJson(t))).toEqual(bigQuerySchema(tableDef(t)));
});

test('only digest references pass as deployable images', () => {
  expect(assertDigest('inference', DIGEST('inference'))).toBe(DIGEST('inference'));
  expect(() => assertDigest('inference', 'europe-west1-docker.pkg.dev/p/r/inference:dev')).toThrow(
    /image inference: expected a digest reference/,
  );
});

describe('Vertex pipeline spec', () => {
  const compiled = JSON.parse(
    readFileSync(path.join(__dirname, '../../pipeline-specs/compiled/continual-learning.json'), 'utf8'),
  ) as PipelineSpec;
  const digest = DIGEST('workloads');

  test('every step runs the workload image by digest and gets the stack environment', () => {
    const spec = deployableSpec(compiled, { image: digest, env: { CV_STORAGE_BACKEND: 'gcs' } });
    expect(JSON.stringify(spec)).not.toContain(WORKLOAD_IMAGE_TOKEN);
    for (const { container } of Object.values(spec.deploymentSpec.executors)) {
      expect(container.image).toBe(digest);
      expect(container.env).toContainEqual({ name: 'CV_STORAGE_BACKEND', value: 'gcs' });
    }
    expect(JSON.stringify(compiled)).toContain(WORKLOAD_IMAGE_TOKEN); // the input is not modified
  });

  test('an environment variable a step sets itself is kept', () => {
    const own: PipelineSpec = JSON.parse(JSON.stringify(compiled));
    const first = Object.values(own.deploymentSpec.executors)[0].container;
    first.env = [{ name: 'CV_LOG_LEVEL', value: 'debug' }];
    const spec = deployableSpec(own, { image: digest, env: { CV_LOG_LEVEL: 'info', CV_STORAGE_BACKEND: 'gcs' } });
    const env = Object.values(spec.deploymentSpec.executors)[0].container.env!;
    expect(env.filter((e) => e.name === 'CV_LOG_LEVEL')).toEqual([{ name: 'CV_LOG_LEVEL', value: 'debug' }]);
  });
});

describe('Grafana boot configuration', () => {
  test('provisioning files round-trip through one metadata value', () => {
    const files = {
      '/etc/grafana/provisioning/datasources/bq.yaml': 'apiVersion: 1\n',
      '/var/lib/grafana/dashboards/a.json': '{}',
    };
    expect(unpackProvisioning(packProvisioning(files))).toEqual(files);
  });
  test('files outside Grafana’s directories are refused', () => {
    expect(() => packProvisioning({ '/etc/passwd': 'x' })).toThrow('/etc/passwd: must be under');
    expect(() => packProvisioning({ '/etc/grafana/provisioning/../../passwd': 'x' })).toThrow('must be under');
  });
  test('provisioning larger than a metadata value is refused', () => {
    const random = Array.from({ length: 400_000 }, (_, i) => ((i * 2654435761) % 4294967296).toString(36)).join('');
    expect(() => packProvisioning({ '/var/lib/grafana/dashboards/big.json': random })).toThrow(
      `instance metadata allows ${MAX_METADATA_VALUE}`,
    );
  });
  const scriptArgs = {
    project: 'creature-vision-dev',
    secretId: 'cv-dev-grafana-admin-password',
    grafanaVersion: '12.2.0',
    bigqueryPluginVersion: '3.2.0',
  };
  test('the startup script is valid bash that reads the password from Secret Manager with the VM token', () => {
    const script = grafanaStartupScript(scriptArgs);
    const file = path.join(tmpdir(), `grafana-startup-${process.pid}.sh`);
    writeFileSync(file, script);
    execFileSync('bash', ['-n', file]);
    expect(script).toContain('instance/service-accounts/default/token');
    expect(script).toContain(
      'https://secretmanager.googleapis.com/v1/projects/creature-vision-dev/secrets/cv-dev-grafana-admin-password/versions/latest:access',
    );
    expect(script).toContain('reset-admin-password --password-from-stdin');
    expect(script).not.toMatch(/key\.json|GOOGLE_APPLICATION_CREDENTIALS/);
  });
  test('it installs the pinned Grafana and plugin releases, never "the latest"', () => {
    const script = grafanaStartupScript(scriptArgs);
    expect(script).toContain("GRAFANA_VERSION='12.2.0'");
    expect(script).toContain('apt-get install -y --allow-downgrades --allow-change-held-packages "grafana=$CANDIDATE"');
    expect(script).toContain('apt-mark hold grafana');
    expect(script).toContain('plugins install grafana-bigquery-datasource "$BIGQUERY_PLUGIN_VERSION"');
    expect(script).not.toMatch(/apt-get install -y grafana\b|plugins update/);
    expect(() => grafanaStartupScript({ ...scriptArgs, grafanaVersion: 'latest' })).toThrow(
      'grafanaVersion "latest": expected a release number',
    );
  });
  test('every network call at boot goes through retry', () => {
    const lines = grafanaStartupScript(scriptArgs).split('\n');
    const network = lines.filter((l) => /\b(curl|apt-get (update|install)|plugins install)\b|\$\(.*\bmd /.test(l));
    const unretried = network.filter(
      (l) =>
        !/^\s*(\w+=\$\()?retry /.test(l) &&
        !/^md\(\) \{ curl/.test(l) && // the helper itself, always called through retry
        !/curl -sf http:\/\/127\.0\.0\.1:/.test(l), // the local health poll, its own loop
    );
    expect(network.length).toBeGreaterThanOrEqual(8);
    expect(unretried).toEqual([]);
  });
  test('retry: a call that fails twice then succeeds goes through; one that always fails gives up after 10 attempts, naming no middle argument', () => {
    const run = (body: string) =>
      execFileSync('bash', ['-c', `set -euo pipefail; sleep() { :; }; ${RETRY_FUNCTION}\n${body}`], { encoding: 'utf8', stdio: 'pipe' });
    expect(run('n=0; flaky() { n=$((n+1)); [ "$n" -ge 3 ]; }; retry flaky a b; echo "calls=$n"').trim()).toBe('calls=3');
    let err = '';
    try {
      run('retry false --token SECRET last-arg');
    } catch (e) {
      err = String((e as { stderr: string }).stderr);
    }
    expect(err).toContain('giving up after 10 attempts: false … last-arg');
    expect(err.match(/attempt \d+ failed/g)).toHaveLength(9);
    expect(err).not.toContain('SECRET');
  });
  test('ids that could inject shell are refused', () => {
    expect(() => grafanaStartupScript({ ...scriptArgs, project: 'p; rm -rf /' })).toThrow('not a valid project id');
    expect(() => grafanaStartupScript({ ...scriptArgs, secretId: '$(id)' })).toThrow('secret id');
  });
});
