import { type RestStandIn, type SeenRequest as Seen, startRestStandIn } from '../../core/test/rest-stand-in';
import { loadConfig } from '../../core/config/load';
import { WORKLOAD_IMAGE_TOKEN } from '../../../pipeline-specs/images';
import type { PipelineSpec } from '../../../pipeline-specs/ir';
import { loadCompiledSpec } from '../../../pipeline-specs/runner';
import { VertexSubmitter } from '../vertex-submitter';

/** The Vertex submitter against a local HTTP stand-in of the Vertex AI REST API. */

describe('VertexSubmitter', () => {
  let api: RestStandIn;
  let base: string;
  const seen: Seen[] = [];
  let respond: (req: Seen) => [number, unknown] = () => [200, {}];
  beforeAll(async () => {
    api = await startRestStandIn(seen, (req) => respond(req));
    base = api.base;
  });
  afterAll(() => api.close());
  beforeEach(() => (seen.length = 0));

  const image = 'eu-docker.pkg.dev/p/r/workloads@sha256:aa';
  const submitter = (overrides: Record<string, unknown> = {}) =>
    new VertexSubmitter({
      pipeline: loadConfig({
        env: {},
        overrides: {
          pipeline: {
            runner: 'vertex',
            projectId: 'my-proj',
            region: 'europe-west4',
            serviceAccount: 'pipeline@my-proj.iam.gserviceaccount.com',
            apiEndpoint: base,
            image,
            ...overrides,
          },
        },
      }).pipeline,
      pipelineBucket: 'my-proj-pipeline',
      loadSpec: loadCompiledSpec,
      stepEnv: { CV_STORAGE_BACKEND: 'gcs', CV_WAREHOUSE_BACKEND: 'bigquery' },
      tokens: { getAccessToken: async () => 'tok-123' },
    });

  it('POSTs a pipelineJobs request with the token, the bound spec and the run parameters', async () => {
    respond = () => [200, { name: 'projects/123/locations/europe-west4/pipelineJobs/run-abc', state: 'PIPELINE_STATE_PENDING' }];
    const sub = await submitter().submit({ runId: 'run-abc', parameters: { force: false } });
    expect(sub).toEqual({ runId: 'run-abc', backend: 'vertex', name: 'projects/123/locations/europe-west4/pipelineJobs/run-abc' });
    expect(seen).toHaveLength(1);
    const [req] = seen;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/v1/projects/my-proj/locations/europe-west4/pipelineJobs?pipelineJobId=run-abc');
    expect(req.authorization).toBe('Bearer tok-123');
    const body = req.body as {
      displayName: string;
      pipelineSpec: PipelineSpec;
      runtimeConfig: unknown;
      serviceAccount: string;
      labels: unknown;
    };
    expect(body.displayName).toBe('continual-learning');
    expect(body.serviceAccount).toBe('pipeline@my-proj.iam.gserviceaccount.com');
    expect(body.runtimeConfig).toEqual({
      gcsOutputDirectory: 'gs://my-proj-pipeline/vertex',
      parameterValues: { force: false, run_id: 'run-abc' },
    });
    expect(body.labels).toEqual({ app: 'creature-vision', pipeline: 'continual-learning' });
    expect(body.pipelineSpec.schemaVersion).toBe('2.1.0');
    const execImages = Object.values(body.pipelineSpec.deploymentSpec.executors).map((e) => e.container.image);
    expect(new Set(execImages)).toEqual(new Set([image]));
    expect(JSON.stringify(body.pipelineSpec)).not.toContain('workload-image://');
    for (const { container } of Object.values(body.pipelineSpec.deploymentSpec.executors)) {
      expect(container.env).toEqual([
        { name: 'CV_STORAGE_BACKEND', value: 'gcs' },
        { name: 'CV_WAREHOUSE_BACKEND', value: 'bigquery' },
      ]);
    }
  });

  it('uses the configured pipeline root', async () => {
    respond = () => [200, { name: 'x' }];
    await submitter({ pipelineRoot: 'gs://elsewhere/root' }).submit({ runId: 'run-r' });
    expect((seen[0].body as { runtimeConfig: { gcsOutputDirectory: string } }).runtimeConfig.gcsOutputDirectory).toBe(
      'gs://elsewhere/root',
    );
  });

  it('reports an HTTP error with its status and body', async () => {
    respond = () => [403, { error: { code: 403, message: 'Permission aiplatform.pipelineJobs.create denied' } }];
    await expect(submitter().submit({ runId: 'run-denied' })).rejects.toThrow(/HTTP 403 .*aiplatform.pipelineJobs.create denied/);
  });

  it('refuses to submit a spec with an unbound image, before calling the API', async () => {
    await expect(submitter({ image: '' }).submit({ runId: 'run-u' })).rejects.toThrow(
      /unbound container image \(workload-image:\/\/workloads\); set config pipeline.image \(env CV_PIPELINE_IMAGE\)/,
    );
    expect(seen).toHaveLength(0);
    expect(WORKLOAD_IMAGE_TOKEN).toBe('workload-image://workloads');
  });

  it('finds an active run with a state filter on its labels', async () => {
    respond = () => [200, { pipelineJobs: [{ name: 'projects/1/locations/europe-west4/pipelineJobs/run-busy' }] }];
    expect(await submitter().activeRun()).toBe('run-busy');
    const url = new URL(seen[0].url, base);
    expect(url.pathname).toBe('/v1/projects/my-proj/locations/europe-west4/pipelineJobs');
    expect(url.searchParams.get('filter')).toContain('labels.app="creature-vision"');
    expect(url.searchParams.get('filter')).toContain('state="PIPELINE_STATE_RUNNING"');
    expect(seen[0].authorization).toBe('Bearer tok-123');
    respond = () => [200, {}];
    expect(await submitter().activeRun()).toBeUndefined();
  });

  it('labels its runs with its stack and waits only for runs of that stack (two stacks share a project)', async () => {
    respond = () => [200, { name: 'projects/123/locations/europe-west4/pipelineJobs/run-abc' }];
    const dev = submitter({ stack: 'dev' });
    expect((await dev.buildRequest({ runId: 'run-abc', parameters: {} })).labels).toEqual({
      app: 'creature-vision',
      pipeline: 'continual-learning',
      stack: 'dev',
    });
    respond = () => [200, {}];
    await dev.activeRun();
    const filter = new URL(seen[0].url, base).searchParams.get('filter')!;
    expect(filter).toMatch(/^labels\.app="creature-vision" AND labels\.stack="dev" AND \(/);
  });

  it('names the missing config keys', () => {
    expect(() => submitter({ projectId: '', serviceAccount: '' })).toThrow(
      'config pipeline.projectId (env CV_PIPELINE_PROJECT_ID), pipeline.serviceAccount (env CV_PIPELINE_SERVICE_ACCOUNT) must be set when pipeline.runner is "vertex"',
    );
  });
});
