import { containerCommand } from '../workloads/core/entry-points';
import { entryPointOf, flagOf, outFlagOf, PIPELINE_STEPS, StepDefinition, StepKey } from '../workloads/core/pipeline-steps';
import type { ContainerComponent } from './builder';
import { WORKLOAD_IMAGE_TOKEN } from './images';
import { ParameterType, placeholder } from './ir';

/**
 * Container components derived from the step definitions in `workloads/core/pipeline-steps.ts`
 * (the one place that names entry points, images, inputs and outputs).
 *
 * The command is the step's entry point's container command (`node dist/…js`, compiled
 * JavaScript in the image's working directory; workloads/core/entry-points.ts), the
 * arguments its mode (a sub-command) and then the flags: inputs are `--<name> <value>` and
 * each output is the file named by `--out-<name> <file>` (the IR `output_file`
 * placeholder). The local runner maps the command back to the TypeScript source, or runs
 * it as is against a build (pipeline-specs/runner).
 */

/** Parameter types that are not STRING; everything else a step takes or emits is text. */
export const PARAMETER_TYPES: Readonly<Record<string, ParameterType>> = {
  force: 'BOOLEAN',
  should_run: 'BOOLEAN',
};

export const typeOf = (param: string): ParameterType => PARAMETER_TYPES[param] ?? 'STRING';

export type StepInputs<K extends StepKey> = (typeof PIPELINE_STEPS)[K]['inputs'][number];
export type StepOutputs<K extends StepKey> = (typeof PIPELINE_STEPS)[K]['outputs'][number];

export function stepComponent<K extends StepKey>(key: K): ContainerComponent<StepInputs<K>, StepOutputs<K>> {
  const step: StepDefinition = PIPELINE_STEPS[key];
  const entry = entryPointOf(step);
  const args: string[] = [...entry.args];
  for (const input of step.inputs) args.push(flagOf(input), placeholder.input(input));
  for (const output of step.outputs) args.push(outFlagOf(output), placeholder.outputFile(output));
  return {
    name: step.name,
    inputs: Object.fromEntries(step.inputs.map((p) => [p, typeOf(p)])) as Record<StepInputs<K>, ParameterType>,
    outputs: Object.fromEntries(step.outputs.map((p) => [p, typeOf(p)])) as Record<StepOutputs<K>, ParameterType>,
    container: { image: WORKLOAD_IMAGE_TOKEN, command: containerCommand(entry), args },
  };
}
