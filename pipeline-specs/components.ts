import { flagOf, outFlagOf, PIPELINE_STEPS, StepDefinition, StepKey } from '../workloads/core/pipeline-steps';
import type { ContainerComponent } from './builder';
import { imageToken } from './images';
import { ParameterType, placeholder } from './ir';

/**
 * Container components derived from the step definitions in `workloads/core/pipeline-steps.ts`
 * (the one place that names entry points, images, inputs and outputs).
 *
 * The command is `node --import tsx <entry> [subcommand]`: the workload images have the
 * repository at their working directory (/app) with `tsx` installed, and a local checkout
 * has the same files relative to the repository root, so the local runner runs exactly the
 * command and arguments Vertex AI runs (with `node` mapped to the current Node binary).
 * Inputs are `--<name> <value>` flags and each output is the file named by
 * `--out-<name> <file>`: the IR `output_file` placeholder.
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
  const args: string[] = [];
  if (step.subcommand) args.push(step.subcommand);
  for (const input of step.inputs) args.push(flagOf(input), placeholder.input(input));
  for (const output of step.outputs) args.push(outFlagOf(output), placeholder.outputFile(output));
  return {
    name: step.name,
    inputs: Object.fromEntries(step.inputs.map((p) => [p, typeOf(p)])) as Record<StepInputs<K>, ParameterType>,
    outputs: Object.fromEntries(step.outputs.map((p) => [p, typeOf(p)])) as Record<StepOutputs<K>, ParameterType>,
    container: { image: imageToken(step.image), command: ['node', '--import', 'tsx', step.entry], args },
  };
}
