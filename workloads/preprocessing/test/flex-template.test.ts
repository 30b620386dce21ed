import { loadConfig } from '../../core/config/load';
import { flexParametersToInvocation, flexTemplateSpec } from '../flex-template';

const IMAGE = `europe-docker.pkg.dev/p/cv/preprocessing@sha256:${'a'.repeat(64)}`;

describe('Flex Template spec', () => {
  const spec = flexTemplateSpec(IMAGE);

  it('has the ContainerSpec shape with valid, unique parameters', () => {
    expect(spec.image).toBe(IMAGE);
    expect(['JAVA', 'PYTHON', 'GO']).toContain(spec.sdkInfo.language);
    const names = spec.metadata.parameters.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    for (const p of spec.metadata.parameters) {
      expect(p.name).toMatch(/^[a-zA-Z][a-zA-Z0-9]*$/);
      expect(p.label.length).toBeGreaterThan(0);
      expect(p.helpText.length).toBeGreaterThan(0);
      for (const r of p.regexes) expect(() => new RegExp(r)).not.toThrow();
    }
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  });

  it('maps launch parameters onto the step CLI and a config that loads', () => {
    const { args, env } = flexParametersToInvocation({
      runId: 'run-42',
      rawBucket: 'cv-dev-raw',
      datasetsBucket: 'cv-dev-datasets',
      bigqueryProject: 'my-project-1',
      gzip: 'true',
      replayShare: '0.25',
      outputVersionFile: '/tmp/outputs/dataset_version',
    });
    expect(args).toEqual(['--run-id', 'run-42', '--out-dataset-version', '/tmp/outputs/dataset_version']);
    const config = loadConfig({ env });
    expect(config.storage).toMatchObject({ backend: 'gcs', buckets: { raw: 'cv-dev-raw', datasets: 'cv-dev-datasets' } });
    expect(config.warehouse).toMatchObject({ backend: 'bigquery', projectId: 'my-project-1' });
    expect(config.preprocessing).toMatchObject({ gzip: true, replayShare: 0.25 });
  });

  it('rejects missing, malformed and unknown parameters by name', () => {
    expect(() => flexParametersToInvocation({ rawBucket: 'b1b', datasetsBucket: 'b2b', bigqueryProject: 'my-project-1' })).toThrow(
      /runId .* is required/,
    );
    expect(() =>
      flexParametersToInvocation({ runId: 'r', rawBucket: 'b1b', datasetsBucket: 'b2b', bigqueryProject: 'my-project-1', gzip: 'yes' }),
    ).toThrow(/gzip="yes" must match/);
    expect(() => flexParametersToInvocation({ runId: 'r', colour: 'blue' })).toThrow(/unknown Flex Template parameter\(s\) colour/);
    expect(() => flexTemplateSpec('no-tag-or-digest')).toThrow(/digest/);
  });
});
