import type { ParameterValue, PipelineSpec } from '../../pipeline-specs/ir';
import type { RunResult } from '../../pipeline-specs/runner/types';

/**
 * Starts a pipeline run once the trigger fires. Two implementations, one interface:
 * {@link VertexSubmitter} (./vertex-submitter.ts) posts a `pipelineJobs` request to Vertex AI
 * Pipelines; {@link LocalSubmitter} (./local-submitter.ts) runs the same spec with the local
 * runner in this process.
 */
export interface SubmitRequest {
  /** Becomes the Vertex pipelineJobId and the `run_id` pipeline parameter. */
  runId: string;
  /** Pipeline parameters besides `run_id`. */
  parameters?: Record<string, ParameterValue>;
}

export interface Submission {
  runId: string;
  backend: 'local' | 'vertex';
  /** Vertex: the job's resource name; local: the run record key. */
  name: string;
  /** Local runs: settles when the run ends (never rejects; see RunResult.status). */
  done?: Promise<RunResult>;
}

export interface PipelineSubmitter {
  readonly backend: 'local' | 'vertex';
  submit(request: SubmitRequest): Promise<Submission>;
  /** The run id of a run still in progress, if any (the trigger does not start a second one). */
  activeRun(): Promise<string | undefined>;
}

/** Loads the spec to submit (the checked-in file locally; the deployed copy in the pipeline bucket on Google Cloud). */
export type SpecSource = () => Promise<PipelineSpec>;
