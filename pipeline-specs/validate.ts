import { parseCondition } from './condition';
import {
  ComponentSpec,
  DagSpec,
  INPUT_PLACEHOLDER_RE,
  IR_SCHEMA_VERSION,
  KFP_SDK_VERSION,
  KFP_SDK_VERSION_PATTERN,
  OUTPUT_FILE_PLACEHOLDER_RE,
  ParameterType,
  PipelineSpec,
  PLACEHOLDER_RE,
} from './ir';

/**
 * Structural checks of a `PipelineSpec` against the IR's rules, so a broken spec fails in
 * a unit test instead of minutes into a Vertex AI run:
 *  - every componentRef, executorLabel and producerTask resolves;
 *  - the task graph of every DAG (dependentTasks + producer edges) has no cycle;
 *  - every input a component declares without a default is bound, and nothing undeclared is;
 *  - bindings match the declared parameter types;
 *  - every producer of a consumed output is also a dependent task;
 *  - conditions parse and read only inputs the task has;
 *  - executor placeholders name inputs/outputs the component declares;
 *  - every component and executor is used.
 */
export function validateSpec(spec: PipelineSpec): string[] {
  const problems: string[] = [];
  const fail = (msg: string): void => void problems.push(msg);

  if (spec.schemaVersion !== IR_SCHEMA_VERSION)
    fail(`schemaVersion is ${JSON.stringify(spec.schemaVersion)}, expected "${IR_SCHEMA_VERSION}"`);
  if (!KFP_SDK_VERSION_PATTERN.test(spec.sdkVersion ?? ''))
    fail(`sdkVersion is ${JSON.stringify(spec.sdkVersion)}: expected a KFP 2 SDK version string like "${KFP_SDK_VERSION}"`);
  if (!spec.pipelineInfo?.name) fail('pipelineInfo.name is missing');
  if (!spec.root?.dag?.tasks) {
    fail('root.dag.tasks is missing');
    return problems;
  }
  const components = spec.components ?? {};
  const executors = spec.deploymentSpec?.executors ?? {};
  const usedComponents = new Set<string>();
  const usedExecutors = new Set<string>();

  for (const [name, comp] of Object.entries(components)) {
    if (!!comp.executorLabel === !!comp.dag) fail(`component ${name} must have exactly one of executorLabel and dag`);
    if (comp.executorLabel) {
      const exec = executors[comp.executorLabel];
      usedExecutors.add(comp.executorLabel);
      if (!exec) fail(`component ${name}: executorLabel ${comp.executorLabel} is not in deploymentSpec.executors`);
      else checkExecutor(name, comp, exec.container, fail);
    }
  }

  const visit = (where: string, dag: DagSpec, owner: ComponentSpec, stack: string[]): void => {
    const tasks = dag.tasks ?? {};
    const edges = new Map<string, Set<string>>();
    for (const [taskName, task] of Object.entries(tasks)) {
      const at = `${where} task ${taskName}`;
      edges.set(taskName, new Set(task.dependentTasks ?? []));
      if (task.taskInfo?.name !== taskName)
        fail(`${at}: taskInfo.name is ${JSON.stringify(task.taskInfo?.name)}, expected ${JSON.stringify(taskName)}`);
      for (const dep of task.dependentTasks ?? []) if (!(dep in tasks)) fail(`${at}: dependent task ${dep} is not in the same DAG`);
      const refName = task.componentRef?.name;
      const comp = refName ? components[refName] : undefined;
      if (!comp) {
        fail(`${at}: componentRef ${JSON.stringify(refName)} is not in components`);
        continue;
      }
      usedComponents.add(refName!);
      const declared = comp.inputDefinitions?.parameters ?? {};
      const bound = task.inputs?.parameters ?? {};
      for (const [input, spec] of Object.entries(declared)) {
        if (!(input in bound) && spec.defaultValue === undefined && !spec.isOptional)
          fail(`${at}: required input ${input} of ${refName} is not bound`);
      }
      for (const [input, binding] of Object.entries(bound)) {
        const declaredType = declared[input]?.parameterType;
        if (!declaredType) {
          fail(`${at}: input ${input} is not declared by ${refName}`);
          continue;
        }
        const kinds = ['componentInputParameter', 'taskOutputParameter', 'runtimeValue'].filter((k) => k in binding);
        if (kinds.length !== 1) {
          fail(
            `${at}: input ${input} must have exactly one of componentInputParameter, taskOutputParameter, runtimeValue (has ${kinds.join(', ') || 'none'})`,
          );
          continue;
        }
        let actualType: ParameterType | undefined;
        if (binding.componentInputParameter !== undefined) {
          actualType = owner.inputDefinitions?.parameters?.[binding.componentInputParameter]?.parameterType;
          if (!actualType)
            fail(`${at}: input ${input} reads ${binding.componentInputParameter}, which ${where} does not declare as an input`);
        } else if (binding.taskOutputParameter) {
          const { producerTask, outputParameterKey } = binding.taskOutputParameter;
          const producer = tasks[producerTask];
          if (!producer) fail(`${at}: input ${input} reads producer task ${producerTask}, which is not in the same DAG`);
          else {
            edges.get(taskName)!.add(producerTask);
            if (!(task.dependentTasks ?? []).includes(producerTask))
              fail(`${at}: reads an output of ${producerTask} but does not list it in dependentTasks`);
            actualType = components[producer.componentRef?.name]?.outputDefinitions?.parameters?.[outputParameterKey]?.parameterType;
            if (!actualType)
              fail(`${at}: input ${input} reads output ${outputParameterKey} of ${producerTask}, which its component does not declare`);
          }
        }
        if (actualType && actualType !== declaredType) fail(`${at}: input ${input} is ${declaredType} but is bound to a ${actualType}`);
      }
      if (task.triggerPolicy?.condition) {
        try {
          for (const c of parseCondition(task.triggerPolicy.condition).flat()) {
            if (!(c.parameter in bound))
              fail(`${at}: condition reads inputs.parameter_values['${c.parameter}'], which the task does not bind`);
          }
        } catch (err) {
          fail(`${at}: ${(err as Error).message}`);
        }
      }
      if (comp.dag) {
        if (stack.includes(refName!)) fail(`${at}: component ${refName} contains itself`);
        else visit(refName!, comp.dag, comp, [...stack, refName!]);
      }
    }
    const cycle = findCycle(edges);
    if (cycle) fail(`${where}: tasks form a cycle: ${cycle.join(' -> ')}`);
  };
  visit('root', spec.root.dag, spec.root, []);

  for (const name of Object.keys(components)) if (!usedComponents.has(name)) fail(`component ${name} is not used by any task`);
  for (const name of Object.keys(executors)) if (!usedExecutors.has(name)) fail(`executor ${name} is not used by any component`);
  return problems;
}

export function assertValidSpec(spec: PipelineSpec): void {
  const problems = validateSpec(spec);
  if (problems.length) throw new Error(`invalid pipeline spec ${spec.pipelineInfo?.name ?? '(unnamed)'}:\n  - ${problems.join('\n  - ')}`);
}

function checkExecutor(
  name: string,
  comp: ComponentSpec,
  container: { image?: string; command?: string[]; args?: string[] },
  fail: (m: string) => void,
): void {
  if (!container?.image) fail(`executor of ${name}: container.image is missing`);
  const inputs = comp.inputDefinitions?.parameters ?? {};
  const outputs = comp.outputDefinitions?.parameters ?? {};
  const written = new Set<string>();
  for (const arg of [...(container.command ?? []), ...(container.args ?? [])]) {
    for (const ph of arg.match(PLACEHOLDER_RE) ?? []) {
      const input = INPUT_PLACEHOLDER_RE.exec(ph)?.[1];
      const output = OUTPUT_FILE_PLACEHOLDER_RE.exec(ph)?.[1];
      if (input !== undefined) {
        if (!(input in inputs)) fail(`executor of ${name}: placeholder ${ph} names an input the component does not declare`);
      } else if (output !== undefined) {
        if (!(output in outputs)) fail(`executor of ${name}: placeholder ${ph} names an output the component does not declare`);
        written.add(output);
      } else if (ph !== '{{$.pipeline_job_name}}' && ph !== '{{$.pipeline_task_name}}') {
        fail(`executor of ${name}: unsupported placeholder ${ph}`);
      }
    }
  }
  for (const output of Object.keys(outputs))
    if (!written.has(output)) fail(`executor of ${name}: output ${output} has no output_file placeholder, so nothing can write it`);
}

/** A cycle in `task -> tasks it waits for`, or undefined. */
export function findCycle(edges: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const dfs = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'visiting') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'visiting');
    path.push(node);
    for (const next of edges.get(node) ?? []) {
      const found = dfs(next);
      if (found) return found;
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of [...edges.keys()].sort()) {
    const found = dfs(node);
    if (found) return found;
  }
  return undefined;
}
