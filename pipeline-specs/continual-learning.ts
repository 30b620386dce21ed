import { eq, PipelineBuilder } from './builder';
import { stepComponent } from './components';
import { KFP_SDK_VERSION, type PipelineSpec } from './ir';

/**
 * The continual-learning pipeline:
 *
 *   check-trigger ─(should_run == true)─▶ preprocess ─(status == 'written')─▶ train ▶ evaluate ─(decision == 'promote')─▶ promote
 *
 * Nothing run-specific is compiled in. Every step receives the `run_id` pipeline parameter
 * (the submitter sets it to the Vertex pipelineJobId / the local run id) and derives its
 * own names from it at run time: dataset version, model version, job names. The model is
 * evaluated against the champion BEFORE anything moves the registry, and promote runs only
 * when evaluation says so.
 */
export const PIPELINE_NAME = 'continual-learning';

export function continualLearningPipeline(): PipelineSpec {
  const p = new PipelineBuilder({
    name: PIPELINE_NAME,
    description: 'Retraining check, versioned TFRecord dataset, transfer learning, champion/challenger evaluation, gated promotion.',
    sdkVersion: KFP_SDK_VERSION,
  });
  const runId = p.parameter('run_id', 'STRING', {
    description: 'Run id (the pipeline job id); dataset and model version names derive from it.',
  });
  const force = p.parameter('force', 'BOOLEAN', { default: false, description: 'Run even if no retraining condition holds.' });

  const check = p.task(stepComponent('checkTrigger'), { run_id: runId, force });
  p.when(eq(check.outputs.should_run, true), () => {
    const pre = p.task(stepComponent('preprocess'), { run_id: runId });
    // Nothing new and trusted (e.g. only users' labels awaiting trust): the run ends here, not failed.
    p.when(eq(pre.outputs.status, 'written'), () => {
      const train = p.task(stepComponent('train'), { run_id: runId, dataset_version: pre.outputs.dataset_version });
      const evaluation = p.task(stepComponent('evaluate'), {
        run_id: runId,
        dataset_version: pre.outputs.dataset_version,
        model_version: train.outputs.model_version,
      });
      p.when(eq(evaluation.outputs.decision, 'promote'), () => {
        p.task(stepComponent('promote'), {
          run_id: runId,
          dataset_version: pre.outputs.dataset_version,
          model_version: train.outputs.model_version,
        });
      });
    });
  });
  return p.compile();
}
