import { formatLiteral, type ComparisonOp } from './condition';
import {
  ComponentSpec,
  ContainerSpec,
  DagSpec,
  IR_SCHEMA_VERSION,
  ParameterSpec,
  ParameterType,
  ParameterValue,
  PipelineSpec,
  PipelineTaskSpec,
  TaskInputParameterSpec,
} from './ir';

/**
 * A small typed builder for Kubeflow IR pipelines, in the spirit of the KFP Python DSL:
 * declare parameters, add container tasks whose inputs are parameters, constants or other
 * tasks' outputs, and wrap conditional tasks in `when(...)`. `compile()` produces the
 * `PipelineSpec` JSON that Vertex AI Pipelines and the local runner execute.
 *
 * Conditions compile the way the KFP compiler compiles `dsl.If`: the conditional tasks
 * become a sub-DAG component (`comp-condition-N`) whose task carries the
 * `triggerPolicy.condition`; every value the sub-DAG reads from outside is passed in as a
 * `pipelinechannel--...` input. That shape is what Vertex AI has always accepted, and it
 * makes skipping well defined: everything downstream of a false condition is inside it.
 */

/** A container component: one executor, typed inputs and outputs. */
export interface ContainerComponent<I extends string = string, O extends string = string> {
  name: string;
  description?: string;
  inputs: Readonly<Record<I, ParameterType>>;
  outputs: Readonly<Record<O, ParameterType>>;
  container: ContainerSpec;
}

export interface ParameterChannel {
  kind: 'parameter';
  name: string;
  type: ParameterType;
}
export interface OutputChannel {
  kind: 'output';
  task: TaskNode;
  key: string;
  type: ParameterType;
}
export type Channel = ParameterChannel | OutputChannel;

/** What a task input may be bound to. Plain values compile to `runtimeValue.constant`. */
export type Argument = Channel | string | number | boolean;

export interface Condition {
  channel: Channel;
  op: ComparisonOp;
  value: string | number | boolean;
}

export const eq = (channel: Channel, value: string | number | boolean): Condition => ({ channel, op: '==', value });

interface TaskNode {
  kind: 'task';
  name: string;
  component: ContainerComponent;
  args: Record<string, Argument>;
  after: TaskNode[];
  scope: Scope;
}

interface Scope {
  kind: 'scope';
  name: string;
  parent?: Scope;
  condition?: Condition;
  items: Array<TaskNode | Scope>;
  /** Outside values this sub-DAG reads, by channel name (filled while compiling). */
  needed: Map<string, Channel>;
}

/** A task as the pipeline definition sees it: typed outputs to wire into later tasks. */
export interface Task<O extends string> {
  readonly name: string;
  readonly outputs: { readonly [K in O]: OutputChannel };
  /** Adds ordering-only dependencies (`dependentTasks`) on tasks in the same DAG. */
  after(...tasks: Array<Task<string>>): Task<O>;
}

export interface PipelineParameterOptions {
  default?: ParameterValue;
  description?: string;
}

const TASK_NAME = /^[a-z][a-z0-9-]{0,62}$/;

export class PipelineBuilder {
  private readonly root: Scope = { kind: 'scope', name: 'root', items: [], needed: new Map() };
  private current: Scope = this.root;
  private readonly parameters = new Map<string, ParameterSpec>();
  private readonly taskNames = new Set<string>();
  private readonly nodes = new WeakMap<Task<string>, TaskNode>();
  private conditionCount = 0;

  constructor(private readonly info: { name: string; description?: string; sdkVersion: string }) {
    if (!TASK_NAME.test(info.name)) throw new Error(`pipeline name ${JSON.stringify(info.name)} must match ${TASK_NAME}`);
  }

  /** Declares a pipeline (root) input parameter; without a default it must be given at submit time. */
  parameter(name: string, type: ParameterType, options: PipelineParameterOptions = {}): ParameterChannel {
    if (this.parameters.has(name)) throw new Error(`pipeline parameter ${name} is declared twice`);
    if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`pipeline parameter ${JSON.stringify(name)} must be snake_case`);
    const spec: ParameterSpec = { parameterType: type };
    if (options.description) spec.description = options.description;
    if (options.default !== undefined) {
      checkValueType(`default of pipeline parameter ${name}`, options.default, type);
      spec.defaultValue = options.default;
      spec.isOptional = true;
    }
    this.parameters.set(name, spec);
    return { kind: 'parameter', name, type };
  }

  /** Adds a container task in the current DAG (the root, or the innermost `when`). */
  task<I extends string, O extends string>(
    component: ContainerComponent<I, O>,
    args: { [K in I]: Argument },
    options: { name?: string } = {},
  ): Task<O> {
    const name = options.name ?? component.name;
    if (!TASK_NAME.test(name)) throw new Error(`task name ${JSON.stringify(name)} must match ${TASK_NAME}`);
    if (this.taskNames.has(name)) throw new Error(`task name ${name} is used twice; pass options.name to tell them apart`);
    for (const input of Object.keys(component.inputs)) {
      if (!(input in args)) throw new Error(`task ${name}: input ${input} of component ${component.name} is not bound`);
    }
    for (const [input, arg] of Object.entries(args as Record<string, Argument>)) {
      const type = (component.inputs as Record<string, ParameterType>)[input];
      if (!type)
        throw new Error(
          `task ${name}: component ${component.name} has no input ${input}; inputs are ${Object.keys(component.inputs).join(', ')}`,
        );
      if (typeof arg === 'object') {
        this.checkVisible(arg, `task ${name} input ${input}`);
        if (arg.type !== type)
          throw new Error(`task ${name}: input ${input} is ${type} but is bound to a ${arg.type} ${describeChannel(arg)}`);
      } else checkValueType(`task ${name} input ${input}`, arg, type);
    }
    this.taskNames.add(name);
    const node: TaskNode = { kind: 'task', name, component, args: args as Record<string, Argument>, after: [], scope: this.current };
    this.current.items.push(node);
    const outputs = Object.fromEntries(
      Object.entries(component.outputs as Record<string, ParameterType>).map(([key, type]) => [
        key,
        { kind: 'output', task: node, key, type },
      ]),
    ) as { [K in O]: OutputChannel };
    const handle: Task<O> = {
      name,
      outputs,
      after: (...tasks) => {
        for (const t of tasks) {
          const dep = this.nodes.get(t);
          if (!dep || dep.scope !== node.scope) throw new Error(`task ${name} can only run after tasks in the same DAG (${t.name} is not)`);
          node.after.push(dep);
        }
        return handle;
      },
    };
    this.nodes.set(handle, node);
    return handle;
  }

  /** Tasks added inside `body` run only when `condition` holds (KFP `dsl.If`). */
  when(condition: Condition, body: () => void): void {
    this.checkVisible(condition.channel, 'condition');
    if (typeof condition.value !== typeof jsTypeOf(condition.channel.type)) {
      // e.g. comparing a BOOLEAN output with 'true' would never match on Vertex.
      throw new Error(
        `condition compares ${condition.channel.type} ${describeChannel(condition.channel)} with ${JSON.stringify(condition.value)}`,
      );
    }
    const scope: Scope = {
      kind: 'scope',
      name: `condition-${++this.conditionCount}`,
      parent: this.current,
      condition,
      items: [],
      needed: new Map(),
    };
    this.current.items.push(scope);
    this.current = scope;
    try {
      body();
    } finally {
      this.current = scope.parent!;
    }
  }

  /** A task output is visible in the DAG that made it and in every sub-DAG nested inside it. */
  private checkVisible(channel: Channel, where: string): void {
    if (channel.kind === 'parameter') {
      if (!this.parameters.has(channel.name)) throw new Error(`${where}: pipeline parameter ${channel.name} is not declared`);
      return;
    }
    for (let s: Scope | undefined = this.current; s; s = s.parent) if (s === channel.task.scope) return;
    throw new Error(`${where}: ${describeChannel(channel)} comes from a task in a condition this task is not inside`);
  }

  compile(): PipelineSpec {
    const components: Record<string, ComponentSpec> = {};
    const executors: PipelineSpec['deploymentSpec']['executors'] = {};
    const addContainer = (c: ContainerComponent): void => {
      const key = `comp-${c.name}`;
      const comp: ComponentSpec = { executorLabel: `exec-${c.name}` };
      if (Object.keys(c.inputs).length) comp.inputDefinitions = { parameters: typedParams(c.inputs) };
      if (Object.keys(c.outputs).length) comp.outputDefinitions = { parameters: typedParams(c.outputs) };
      const existing = components[key];
      if (existing && JSON.stringify(existing) !== JSON.stringify(comp)) throw new Error(`two different components are named ${c.name}`);
      components[key] = comp;
      executors[`exec-${c.name}`] = { container: c.container };
    };

    const compileScope = (scope: Scope): DagSpec => {
      const tasks: Record<string, PipelineTaskSpec> = {};
      for (const item of scope.items) {
        if (item.kind === 'task') {
          addContainer(item.component);
          const deps = new Set(item.after.map((t) => t.name));
          const parameters: Record<string, TaskInputParameterSpec> = {};
          for (const [input, arg] of Object.entries(item.args)) {
            parameters[input] = typeof arg === 'object' ? bind(scope, arg, deps) : { runtimeValue: { constant: arg } };
          }
          const task: PipelineTaskSpec = {
            taskInfo: { name: item.name },
            componentRef: { name: `comp-${item.component.name}` },
            // Every step has side effects (new dataset and model versions, registry moves):
            // never let Vertex serve a cached result instead of running it.
            cachingOptions: { enableCache: false },
          };
          if (Object.keys(parameters).length) task.inputs = { parameters };
          if (deps.size) task.dependentTasks = [...deps].sort();
          tasks[item.name] = task;
        } else {
          const cond = item.condition!;
          const operand = channelName(cond.channel);
          item.needed.set(operand, cond.channel);
          const dag = compileScope(item);
          const deps = new Set<string>();
          const parameters: Record<string, TaskInputParameterSpec> = {};
          const definitions: Record<string, ParameterSpec> = {};
          for (const [name, ch] of [...item.needed.entries()].sort(([a], [b]) => a.localeCompare(b))) {
            parameters[name] = bind(scope, ch, deps);
            definitions[name] = { parameterType: ch.type };
          }
          components[`comp-${item.name}`] = { dag, inputDefinitions: { parameters: definitions } };
          const task: PipelineTaskSpec = {
            taskInfo: { name: item.name },
            componentRef: { name: `comp-${item.name}` },
            inputs: { parameters },
            triggerPolicy: { condition: `inputs.parameter_values['${operand}'] ${cond.op} ${formatLiteral(cond.value)}` },
          };
          if (deps.size) task.dependentTasks = [...deps].sort();
          tasks[item.name] = task;
        }
      }
      return { tasks };
    };

    const rootDag = compileScope(this.root);
    const rootInputs = Object.fromEntries([...this.parameters.entries()].sort(([a], [b]) => a.localeCompare(b)));
    const pipelineInfo: PipelineSpec['pipelineInfo'] = { name: this.info.name };
    if (this.info.description) pipelineInfo.description = this.info.description;
    return {
      pipelineInfo,
      schemaVersion: IR_SCHEMA_VERSION,
      sdkVersion: this.info.sdkVersion,
      components,
      deploymentSpec: { executors },
      root: { dag: rootDag, inputDefinitions: { parameters: rootInputs } },
    };
  }
}

/** `pipelinechannel--run_id`, `pipelinechannel--evaluate-decision` (the KFP compiler's names). */
function channelName(ch: Channel): string {
  return ch.kind === 'parameter' ? `pipelinechannel--${ch.name}` : `pipelinechannel--${ch.task.name}-${ch.key}`;
}

/** How `scope` reads `ch`: directly when it is in reach, else through the sub-DAG's inputs. */
function bind(scope: Scope, ch: Channel, deps: Set<string>): TaskInputParameterSpec {
  if (ch.kind === 'output' && ch.task.scope === scope) {
    deps.add(ch.task.name);
    return { taskOutputParameter: { producerTask: ch.task.name, outputParameterKey: ch.key } };
  }
  if (ch.kind === 'parameter' && !scope.parent) return { componentInputParameter: ch.name };
  const name = channelName(ch);
  scope.needed.set(name, ch);
  return { componentInputParameter: name };
}

function typedParams(params: Readonly<Record<string, ParameterType>>): Record<string, { parameterType: ParameterType }> {
  return Object.fromEntries(
    Object.entries(params)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, t]) => [k, { parameterType: t }]),
  );
}

function describeChannel(ch: Channel): string {
  return ch.kind === 'parameter' ? `pipeline parameter ${ch.name}` : `output ${ch.key} of task ${ch.task.name}`;
}

function jsTypeOf(type: ParameterType): unknown {
  switch (type) {
    case 'BOOLEAN':
      return true;
    case 'NUMBER_INTEGER':
    case 'NUMBER_DOUBLE':
      return 0;
    case 'STRING':
      return '';
    default:
      return {};
  }
}

export function checkValueType(where: string, value: ParameterValue, type: ParameterType): void {
  const ok =
    type === 'STRING'
      ? typeof value === 'string'
      : type === 'BOOLEAN'
        ? typeof value === 'boolean'
        : type === 'NUMBER_INTEGER'
          ? Number.isInteger(value)
          : type === 'NUMBER_DOUBLE'
            ? typeof value === 'number' && Number.isFinite(value)
            : type === 'LIST'
              ? Array.isArray(value)
              : value !== null && typeof value === 'object' && !Array.isArray(value);
  if (!ok) throw new Error(`${where}: ${JSON.stringify(value)} is not a ${type}`);
}
