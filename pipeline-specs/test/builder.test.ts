import { ContainerComponent, eq, PipelineBuilder } from '../builder';
import { evaluateCondition, parseCondition } from '../condition';
import { KFP_SDK_VERSION, placeholder } from '../ir';
import { validateSpec } from '../validate';

const comp = (
  name: string,
  inputs: Record<string, 'STRING' | 'BOOLEAN'>,
  outputs: Record<string, 'STRING' | 'BOOLEAN'>,
): ContainerComponent<string, string> => ({
  name,
  inputs,
  outputs,
  container: {
    image: 'img',
    command: ['node', 'x.js'],
    args: [
      ...Object.keys(inputs).flatMap((i) => [`--${i}`, placeholder.input(i)]),
      ...Object.keys(outputs).flatMap((o) => [`--out-${o}`, placeholder.outputFile(o)]),
    ],
  },
});

describe('pipeline builder', () => {
  it('threads values into nested conditions through pipelinechannel inputs, as the KFP compiler does', () => {
    const p = new PipelineBuilder({ name: 'nested', sdkVersion: KFP_SDK_VERSION });
    const x = p.parameter('x', 'STRING');
    const a = p.task(comp('a', { in: 'STRING' }, { ok: 'BOOLEAN', v: 'STRING' }), { in: x });
    p.when(eq(a.outputs.ok, true), () => {
      const b = p.task(comp('b', { in: 'STRING' }, { v: 'STRING' }), { in: a.outputs.v });
      p.when(eq(b.outputs.v, 'yes'), () => {
        p.task(comp('c', { in: 'STRING', first: 'STRING', k: 'STRING' }, {}), { in: x, first: a.outputs.v, k: 'constant' });
      });
    });
    const spec = p.compile();
    expect(validateSpec(spec)).toEqual([]);
    const c = spec.components['comp-condition-2'].dag!.tasks.c.inputs!.parameters!;
    expect(c).toEqual({
      in: { componentInputParameter: 'pipelinechannel--x' },
      first: { componentInputParameter: 'pipelinechannel--a-v' },
      k: { runtimeValue: { constant: 'constant' } },
    });
    const cond2 = spec.components['comp-condition-1'].dag!.tasks['condition-2'];
    expect(cond2.inputs!.parameters!['pipelinechannel--x']).toEqual({ componentInputParameter: 'pipelinechannel--x' });
    expect(cond2.inputs!.parameters!['pipelinechannel--b-v']).toEqual({
      taskOutputParameter: { producerTask: 'b', outputParameterKey: 'v' },
    });
    expect(spec.root.dag.tasks['condition-1'].inputs!.parameters!['pipelinechannel--x']).toEqual({ componentInputParameter: 'x' });
    expect(spec.components['comp-condition-1'].inputDefinitions!.parameters!['pipelinechannel--a-v']).toEqual({ parameterType: 'STRING' });
  });

  it('rejects unbound, unknown and mistyped inputs, duplicate names and outputs from inside a condition', () => {
    const p = new PipelineBuilder({ name: 'bad', sdkVersion: KFP_SDK_VERSION });
    const x = p.parameter('x', 'STRING');
    const flag = p.parameter('flag', 'BOOLEAN', { default: false });
    const a = p.task(comp('a', { in: 'STRING' }, { ok: 'BOOLEAN' }), { in: x });
    expect(() => p.task(comp('b', { in: 'STRING' }, {}), {} as { in: string })).toThrow('input in of component b is not bound');
    expect(() => p.task(comp('b', { in: 'STRING' }, {}), { in: x, extra: 1 } as unknown as { in: string })).toThrow('has no input extra');
    expect(() => p.task(comp('b', { in: 'STRING' }, {}), { in: flag })).toThrow(
      'input in is STRING but is bound to a BOOLEAN pipeline parameter flag',
    );
    expect(() => p.task(comp('a', { in: 'STRING' }, {}), { in: x })).toThrow('task name a is used twice');
    expect(() => p.when(eq(a.outputs.ok, 'true'), () => undefined)).toThrow('condition compares BOOLEAN output ok of task a with "true"');
    let inside: ReturnType<typeof p.task> | undefined;
    p.when(eq(a.outputs.ok, true), () => {
      inside = p.task(comp('in-cond', {}, { v: 'STRING' }), {});
    });
    expect(() => p.task(comp('after', { in: 'STRING' }, {}), { in: inside!.outputs.v })).toThrow(
      'comes from a task in a condition this task is not inside',
    );
  });
});

describe('conditions', () => {
  it('parses and evaluates the CEL subset', () => {
    expect(
      parseCondition("inputs.parameter_values['a'] == 'x' && inputs.parameter_values['b'] != true || inputs.parameter_values['n'] >= 3"),
    ).toEqual([
      [
        { parameter: 'a', op: '==', value: 'x' },
        { parameter: 'b', op: '!=', value: true },
      ],
      [{ parameter: 'n', op: '>=', value: 3 }],
    ]);
    expect(evaluateCondition("inputs.parameter_values['d'] == 'promote'", { d: 'promote' })).toBe(true);
    expect(evaluateCondition("inputs.parameter_values['d'] == 'promote'", { d: 'promote\n' })).toBe(false);
    expect(evaluateCondition("inputs.parameter_values['ok'] == true", { ok: 'true' })).toBe(false);
    expect(evaluateCondition("inputs.parameter_values['s'] == 'a && b'", { s: 'a && b' })).toBe(true);
    expect(() => evaluateCondition("inputs.parameter_values['zz'] == 1", {})).toThrow('which the task does not have');
    expect(() => parseCondition('x > 1')).toThrow('unsupported triggerPolicy condition');
  });
});
