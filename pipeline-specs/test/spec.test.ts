import { readFileSync } from 'node:fs';
import { containerCommand } from '../../workloads/core/entry-points';
import { entryPointOf, flagOf, outFlagOf, PIPELINE_STEPS } from '../../workloads/core/pipeline-steps';
import { COMPILED_SPEC_PATH, compileToJson } from '../compile';
import { continualLearningPipeline } from '../continual-learning';
import { bindEnv } from '../deploy';
import { bindImage, hasUnboundImage, WORKLOAD_IMAGE_TOKEN } from '../images';
import { PipelineSpec } from '../ir';
import { validateSpec } from '../validate';

const checkedIn = (): PipelineSpec => JSON.parse(readFileSync(COMPILED_SPEC_PATH, 'utf8')) as PipelineSpec;

describe('compiled continual-learning spec', () => {
  it('is exactly what a fresh compile produces (run `npm run compile:pipeline` if this fails)', () => {
    expect(readFileSync(COMPILED_SPEC_PATH, 'utf8')).toBe(compileToJson());
  });

  it('passes the IR validator', () => {
    expect(validateSpec(checkedIn())).toEqual([]);
  });

  it('has the IR header and a required run_id parameter', () => {
    const spec = checkedIn();
    expect(spec.schemaVersion).toBe('2.1.0');
    expect(spec.sdkVersion).toEqual(expect.any(String));
    expect(spec.pipelineInfo.name).toBe('continual-learning');
    expect(spec.root.inputDefinitions?.parameters).toEqual({
      run_id: expect.objectContaining({ parameterType: 'STRING' }),
      force: expect.objectContaining({ parameterType: 'BOOLEAN', defaultValue: false, isOptional: true }),
    });
    expect(spec.root.inputDefinitions?.parameters?.run_id.defaultValue).toBeUndefined();
  });

  it('gates preprocessing on the trigger and promotion on the evaluation, with evaluation before promotion', () => {
    const spec = checkedIn();
    const root = spec.root.dag.tasks;
    expect(Object.keys(root).sort()).toEqual(['check-trigger', 'condition-1']);
    expect(root['condition-1'].triggerPolicy?.condition).toBe(
      "inputs.parameter_values['pipelinechannel--check-trigger-should_run'] == true",
    );
    expect(root['condition-1'].dependentTasks).toEqual(['check-trigger']);
    const afterTrigger = spec.components['comp-condition-1'].dag!.tasks;
    expect(Object.keys(afterTrigger).sort()).toEqual(['condition-2', 'preprocess']);
    // Preprocessing with nothing new and trusted says so (status waiting_for_data): the run trains nothing.
    expect(afterTrigger['condition-2'].triggerPolicy?.condition).toBe(
      "inputs.parameter_values['pipelinechannel--preprocess-status'] == 'written'",
    );
    const inner = spec.components['comp-condition-2'].dag!.tasks;
    expect(Object.keys(inner).sort()).toEqual(['condition-3', 'evaluate', 'train']);
    expect(inner.train.inputs?.parameters?.dataset_version).toEqual({
      componentInputParameter: 'pipelinechannel--preprocess-dataset_version',
    });
    expect(inner['condition-3'].triggerPolicy?.condition).toBe(
      "inputs.parameter_values['pipelinechannel--evaluate-decision'] == 'promote'",
    );
    expect(inner['condition-3'].dependentTasks).toContain('evaluate');
    const promote = spec.components['comp-condition-3'].dag!.tasks;
    expect(Object.keys(promote)).toEqual(['promote']);
    expect(promote.promote.inputs?.parameters?.model_version).toEqual({ componentInputParameter: 'pipelinechannel--train-model_version' });
  });

  it('derives every executor from workloads/core/pipeline-steps.ts with IR placeholders and nothing run-specific', () => {
    const spec = checkedIn();
    for (const step of Object.values(PIPELINE_STEPS)) {
      const { container } = spec.deploymentSpec.executors[`exec-${step.name}`];
      expect(container.image).toBe(WORKLOAD_IMAGE_TOKEN);
      expect(container.command).toEqual(containerCommand(entryPointOf(step)));
      expect(container.command).toEqual(['node', expect.stringMatching(/^dist\/workloads\/\w+\/cli\.js$/)]);
      const args = container.args!;
      expect(args.slice(0, entryPointOf(step).args.length)).toEqual(entryPointOf(step).args);
      for (const input of step.inputs) expect(args[args.indexOf(flagOf(input)) + 1]).toBe(`{{$.inputs.parameters['${input}']}}`);
      for (const output of step.outputs)
        expect(args[args.indexOf(outFlagOf(output)) + 1]).toBe(`{{$.outputs.parameters['${output}'].output_file}}`);
    }
    // Run-specific names are computed by the steps from run_id; none are compiled in.
    const json = readFileSync(COMPILED_SPEC_PATH, 'utf8');
    expect(json).not.toMatch(/v20\d{6}T/i);
    expect(json).not.toMatch(/run-20\d{6}t/);
  });

  it('binds the one workload image to its digest reference and refuses to leave it unbound', () => {
    const spec = checkedIn();
    expect(hasUnboundImage(spec)).toBe(true);
    const bound = bindImage(spec, 'r/workloads@sha256:1');
    expect(new Set(Object.values(bound.deploymentSpec.executors).map((e) => e.container.image))).toEqual(new Set(['r/workloads@sha256:1']));
    expect(hasUnboundImage(bound)).toBe(false);
    expect(spec.deploymentSpec.executors['exec-train'].container.image).toBe(WORKLOAD_IMAGE_TOKEN);
    expect(() => bindImage(spec, '')).toThrow(/unbound container image \(workload-image:\/\/workloads\)/);
  });

  it('compiles deterministically', () => {
    expect(JSON.stringify(continualLearningPipeline())).toBe(JSON.stringify(continualLearningPipeline()));
  });
});

describe('deployable spec', () => {
  it('adds the step environment to every container without overriding what a container sets', () => {
    const spec = checkedIn();
    spec.deploymentSpec.executors['exec-train'].container.env = [{ name: 'CV_TRAINING_EPOCHS', value: '3' }];
    const bound = bindEnv(spec, { CV_TRAINING_EPOCHS: '12', CV_STORAGE_BACKEND: 'gcs' });
    expect(bound.deploymentSpec.executors['exec-train'].container.env).toEqual([
      { name: 'CV_TRAINING_EPOCHS', value: '3' },
      { name: 'CV_STORAGE_BACKEND', value: 'gcs' },
    ]);
    expect(bound.deploymentSpec.executors['exec-preprocess'].container.env).toEqual([
      { name: 'CV_STORAGE_BACKEND', value: 'gcs' },
      { name: 'CV_TRAINING_EPOCHS', value: '12' },
    ]);
    expect(validateSpec(bound)).toEqual([]);
  });
});
