import type { WorkloadConfig } from '../core/config/schema';
import { deployableSpec } from '../../pipeline-specs/deploy';
import { googleTokenSource, type TokenSource } from '../core/gcp/token-source';
import { pipelineKeys } from '../core/layout';
import type { PipelineSubmitter, SpecSource, SubmitRequest, Submission } from './submitter';

/**
 * Submits runs to Vertex AI Pipelines with the REST API (there is no Pulumi resource for
 * pipeline jobs): `POST /v1/projects/{p}/locations/{r}/pipelineJobs?pipelineJobId={runId}`
 * with the compiled spec (its image token bound to the workload image's digest reference), the run's parameters
 * and the pipeline service account, authenticated with the trigger service's own
 * service-account token (metadata server on Cloud Run; no key files).
 */

export interface VertexSubmitterOptions {
  pipeline: WorkloadConfig['pipeline'];
  /** The pipeline bucket's name, for the default pipeline root. */
  pipelineBucket: string;
  loadSpec: SpecSource;
  /** CV_* environment every step container gets (see pipeline-specs/deploy.ts). */
  stepEnv?: Record<string, string>;
  tokens?: TokenSource;
  fetch?: typeof fetch;
}

const ACTIVE_STATES = ['PIPELINE_STATE_QUEUED', 'PIPELINE_STATE_PENDING', 'PIPELINE_STATE_RUNNING', 'PIPELINE_STATE_CANCELLING'];

export class VertexSubmitter implements PipelineSubmitter {
  readonly backend = 'vertex' as const;
  private readonly tokens: TokenSource;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: VertexSubmitterOptions) {
    const p = options.pipeline;
    const missing = [
      ['pipeline.projectId', 'CV_PIPELINE_PROJECT_ID', p.projectId],
      ['pipeline.region', 'CV_PIPELINE_REGION', p.region],
      ['pipeline.serviceAccount', 'CV_PIPELINE_SERVICE_ACCOUNT', p.serviceAccount],
    ].filter(([, , v]) => !v);
    if (missing.length) {
      throw new Error(`config ${missing.map(([k, e]) => `${k} (env ${e})`).join(', ')} must be set when pipeline.runner is "vertex"`);
    }
    this.tokens = options.tokens ?? googleTokenSource();
    this.fetch = options.fetch ?? fetch;
  }

  private get parent(): string {
    const { apiEndpoint, projectId, region } = this.options.pipeline;
    const base = (apiEndpoint || `https://${region}-aiplatform.googleapis.com`).replace(/\/+$/, '');
    return `${base}/v1/projects/${encodeURIComponent(projectId)}/locations/${encodeURIComponent(region)}`;
  }

  /** The request body of a `pipelineJobs.create` call (exported for inspection and tests). */
  async buildRequest(request: SubmitRequest): Promise<Record<string, unknown>> {
    const p = this.options.pipeline;
    const spec = deployableSpec(await this.options.loadSpec(), { image: p.image, env: this.options.stepEnv });
    return {
      displayName: spec.pipelineInfo.name,
      pipelineSpec: spec,
      runtimeConfig: {
        gcsOutputDirectory: p.pipelineRoot || `gs://${this.options.pipelineBucket}/${pipelineKeys.vertexRoot}`,
        parameterValues: { ...request.parameters, run_id: request.runId },
      },
      serviceAccount: p.serviceAccount,
      labels: { app: 'creature-vision', pipeline: spec.pipelineInfo.name, ...(p.stack ? { stack: p.stack } : {}) },
    };
  }

  async submit(request: SubmitRequest): Promise<Submission> {
    const body = await this.buildRequest(request);
    const url = `${this.parent}/pipelineJobs?pipelineJobId=${encodeURIComponent(request.runId)}`;
    const res = await this.call(url, { method: 'POST', body: JSON.stringify(body) });
    const job = (await res.json()) as { name?: string };
    return { runId: request.runId, backend: 'vertex', name: job.name ?? `${this.parent}/pipelineJobs/${request.runId}` };
  }

  async activeRun(): Promise<string | undefined> {
    const { stack } = this.options.pipeline;
    const mine = ['labels.app="creature-vision"', ...(stack ? [`labels.stack="${stack}"`] : [])].join(' AND ');
    const filter = `${mine} AND (${ACTIVE_STATES.map((s) => `state="${s}"`).join(' OR ')})`;
    const res = await this.call(`${this.parent}/pipelineJobs?filter=${encodeURIComponent(filter)}&pageSize=1`, { method: 'GET' });
    const body = (await res.json()) as { pipelineJobs?: Array<{ name?: string }> };
    const name = body.pipelineJobs?.[0]?.name;
    return name ? name.slice(name.lastIndexOf('/') + 1) : undefined;
  }

  private async call(url: string, init: { method: string; body?: string }): Promise<Response> {
    const token = await this.tokens.getAccessToken();
    const res = await this.fetch(url, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw new Error(`Vertex AI ${init.method} ${url.split('?')[0]} failed: HTTP ${res.status} ${text.slice(0, 500)}`);
    }
    return res;
  }
}
