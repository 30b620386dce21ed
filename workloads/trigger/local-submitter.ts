import { pipelineKeys } from '../core/layout';
import { runPipeline, type RunPipelineOptions } from '../../pipeline-specs/runner/run-pipeline';
import type { RunResult } from '../../pipeline-specs/runner/types';
import type { PipelineSubmitter, SpecSource, SubmitRequest, Submission } from './submitter';

/**
 * Runs the pipeline with the local runner, in the background, one run at a time. Used by
 * `npm start` and the local trigger service. Everything except spec, run id and parameters
 * (env, cwd, warehouse, store, onEvent, signal) is passed through to `runPipeline`.
 */
export class LocalSubmitter implements PipelineSubmitter {
  readonly backend = 'local' as const;
  private active: { runId: string; done: Promise<RunResult> } | undefined;

  constructor(
    private readonly loadSpec: SpecSource,
    private readonly runOptions: Omit<RunPipelineOptions, 'spec' | 'runId' | 'parameters'> = {},
    private readonly onFinished?: (result: RunResult) => void,
  ) {}

  async activeRun(): Promise<string | undefined> {
    return this.active?.runId;
  }

  /** The run in progress, to await on shutdown. */
  get current(): Promise<RunResult> | undefined {
    return this.active?.done;
  }

  async submit(request: SubmitRequest): Promise<Submission> {
    if (this.active) throw new Error(`run ${this.active.runId} is still in progress; not starting ${request.runId}`);
    const spec = await this.loadSpec();
    const started = runPipeline({
      ...this.runOptions,
      spec,
      runId: request.runId,
      parameters: { ...request.parameters, run_id: request.runId },
    });
    // runPipeline rejects only for an invalid spec or parameters; report that as a failed run.
    const done = started.catch((err: Error): RunResult => ({
      runId: request.runId,
      pipeline: spec.pipelineInfo.name,
      status: 'failed',
      startedAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
      durationS: 0,
      parameters: request.parameters ?? {},
      steps: [],
      error: err.message,
      warnings: [],
    }));
    const active = { runId: request.runId, done };
    this.active = active;
    void done.then((result) => {
      if (this.active === active) this.active = undefined;
      this.onFinished?.(result);
    });
    return { runId: request.runId, backend: 'local', name: pipelineKeys.runRecord(request.runId), done };
  }
}
