import { readFileSync } from 'node:fs';
import { COMPILED_SPEC_PATH } from '../compile';
import { PipelineSpec } from '../ir';
import { validateSpec } from '../validate';

/** Each case breaks one IR rule in a copy of the real spec; the validator must name it. */
const base = (): PipelineSpec => JSON.parse(readFileSync(COMPILED_SPEC_PATH, 'utf8')) as PipelineSpec;
/** The sub-DAG that trains and evaluates (inside "should run" and "a version was written"). */
const inner = (s: PipelineSpec) => s.components['comp-condition-2'].dag!.tasks;

const cases: Array<[string, (s: PipelineSpec) => void, RegExp]> = [
  [
    'unknown componentRef',
    (s) => (inner(s).train.componentRef.name = 'comp-nope'),
    /task train: componentRef "comp-nope" is not in components/,
  ],
  [
    'unknown executorLabel',
    (s) => (s.components['comp-train'].executorLabel = 'exec-nope'),
    /executorLabel exec-nope is not in deploymentSpec.executors/,
  ],
  [
    'unknown producerTask',
    (s) =>
      (inner(s).evaluate.inputs!.parameters!.model_version = { taskOutputParameter: { producerTask: 'ghost', outputParameterKey: 'x' } }),
    /reads producer task ghost, which is not in the same DAG/,
  ],
  [
    'undeclared producer output',
    (s) => (inner(s).evaluate.inputs!.parameters!.model_version.taskOutputParameter!.outputParameterKey = 'nope'),
    /reads output nope of train, which its component does not declare/,
  ],
  [
    'unbound required input',
    (s) => delete inner(s).evaluate.inputs!.parameters!.model_version,
    /required input model_version of comp-evaluate is not bound/,
  ],
  [
    'undeclared input',
    (s) => (inner(s).train.inputs!.parameters!.colour = { runtimeValue: { constant: 'red' } }),
    /input colour is not declared by comp-train/,
  ],
  [
    'missing dependentTasks',
    (s) => (inner(s).evaluate.dependentTasks = []),
    /reads an output of train but does not list it in dependentTasks/,
  ],
  [
    'cycle',
    (s) => {
      inner(s).train.dependentTasks = ['evaluate'];
    },
    /tasks form a cycle: .*train.*evaluate|tasks form a cycle: .*evaluate.*train/,
  ],
  [
    'condition on an unbound input',
    (s) => (s.root.dag.tasks['condition-1'].triggerPolicy!.condition = "inputs.parameter_values['nope'] == true"),
    /condition reads inputs.parameter_values\['nope'\]/,
  ],
  [
    'unparseable condition',
    (s) => (s.root.dag.tasks['condition-1'].triggerPolicy!.condition = 'size(x) > 1'),
    /unsupported triggerPolicy condition/,
  ],
  [
    'type mismatch',
    (s) => (s.root.dag.tasks['check-trigger'].inputs!.parameters!.force = { componentInputParameter: 'run_id' }),
    /input force is BOOLEAN but is bound to a STRING/,
  ],
  [
    'reads an undeclared pipeline input',
    (s) => (s.root.dag.tasks['check-trigger'].inputs!.parameters!.run_id = { componentInputParameter: 'job' }),
    /reads job, which root does not declare/,
  ],
  [
    'placeholder for an undeclared input',
    (s) => s.deploymentSpec.executors['exec-train'].container.args!.push("{{$.inputs.parameters['nope']}}"),
    /placeholder \{\{\$.inputs.parameters\['nope'\]\}\} names an input the component does not declare/,
  ],
  [
    'unused component',
    (s) => (s.components['comp-spare'] = { executorLabel: 'exec-train' }),
    /component comp-spare is not used by any task/,
  ],
  ['wrong schema version', (s) => (s.schemaVersion = '2.0.0'), /schemaVersion is "2.0.0"/],
  [
    'an sdkVersion that is not a KFP version',
    (s) => (s.sdkVersion = 'creature-vision-pipeline-builder-1'),
    /sdkVersion is "creature-vision-pipeline-builder-1": expected a KFP 2 SDK version string like "kfp-2\.7\.0"/,
  ],
];

describe('IR validator', () => {
  it('accepts the real spec', () => expect(validateSpec(base())).toEqual([]));
  it.each(cases)('rejects %s', (_name, mutate, expected) => {
    const s = base();
    mutate(s);
    const problems = validateSpec(s);
    expect(problems.join('\n')).toMatch(expected);
  });
});
