import { configToEnv } from '../core/config/load';
import type { WorkloadConfig } from '../core/config/schema';
import { pipelineKeys } from '../core/layout';
import type { DataLake } from '../core/storage/data-lake';
import { readJson } from '../core/storage/object-store';
import type { PipelineSpec } from '../../pipeline-specs/ir';
import { loadCompiledSpec } from '../../pipeline-specs/runner';
import type { RunPipelineOptions } from '../../pipeline-specs/runner/run-pipeline';
import type { RunResult } from '../../pipeline-specs/runner/types';
import { LocalSubmitter } from './local-submitter';
import type { PipelineSubmitter, SpecSource } from './submitter';
import { VertexSubmitter } from './vertex-submitter';

/**
 * The submitter the config names. Vertex runs the spec deployed to the pipeline bucket
 * (`pipelineKeys.spec`, uploaded by the Pulumi pipeline component); the local runner runs
 * the checked-in compiled file of this checkout.
 */
export function openSubmitter(
  config: WorkloadConfig,
  lake: Pick<DataLake, 'pipeline'>,
  local: { runOptions?: Omit<RunPipelineOptions, 'spec' | 'runId' | 'parameters'>; onFinished?: (r: RunResult) => void } = {},
): PipelineSubmitter {
  if (config.pipeline.runner === 'vertex') {
    const loadSpec: SpecSource = async () => {
      const spec = await readJson<PipelineSpec>(lake.pipeline, pipelineKeys.spec);
      if (!spec) throw new Error(`no pipeline spec at ${lake.pipeline.uri(pipelineKeys.spec)}; the Pulumi pipeline component uploads it`);
      return spec;
    };
    // The steps get the trigger's configuration (the stack's), minus what only the trigger uses.
    const stepEnv = Object.fromEntries(Object.entries(configToEnv(config)).filter(([k]) => !k.startsWith('CV_PIPELINE_')));
    return new VertexSubmitter({ pipeline: config.pipeline, pipelineBucket: config.storage.buckets.pipeline, loadSpec, stepEnv });
  }
  return new LocalSubmitter(() => loadCompiledSpec(), { store: lake.pipeline, ...local.runOptions }, local.onFinished);
}
