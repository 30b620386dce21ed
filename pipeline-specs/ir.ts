/**
 * The subset of the Kubeflow Pipelines IR (`PipelineSpec`, schemaVersion 2.1.0, the JSON
 * form of `pipeline_spec.proto`) this project produces and the local runner executes.
 * Field names follow the proto's JSON mapping exactly, so the same document is accepted
 * by Vertex AI Pipelines.
 */

export const IR_SCHEMA_VERSION = '2.1.0';

/**
 * `sdkVersion` as Vertex AI documents it for the specs it accepts: `kfp-<major>.<minor>.<patch>`
 * of a KFP 2 SDK. The builder writes IR schema 2.1.0 and only features KFP 2.7.0 emits, so the
 * compiled spec names that version (a free-form name was not a KFP version string).
 */
export const KFP_SDK_VERSION = 'kfp-2.7.0';
export const KFP_SDK_VERSION_PATTERN = /^kfp-2\.\d+\.\d+$/;

export type ParameterType = 'STRING' | 'BOOLEAN' | 'NUMBER_INTEGER' | 'NUMBER_DOUBLE' | 'STRUCT' | 'LIST';
/** A parameter value as it appears in `defaultValue`, `runtimeValue.constant` and `parameterValues`. */
export type ParameterValue = string | number | boolean | null | ParameterValue[] | { [k: string]: ParameterValue };

export interface ParameterSpec {
  parameterType: ParameterType;
  defaultValue?: ParameterValue;
  isOptional?: boolean;
  description?: string;
}

export interface InputsSpec {
  parameters?: Record<string, ParameterSpec>;
}
export interface OutputsSpec {
  parameters?: Record<string, { parameterType: ParameterType; description?: string }>;
}

/** How a task input gets its value: exactly one of the three is set. */
export interface TaskInputParameterSpec {
  /** An input of the enclosing component (the pipeline's parameters, or a condition DAG's inputs). */
  componentInputParameter?: string;
  /** An output of a task in the same DAG. */
  taskOutputParameter?: { producerTask: string; outputParameterKey: string };
  /** A constant; may contain run-level placeholders such as `{{$.pipeline_job_name}}`. */
  runtimeValue?: { constant: ParameterValue };
}

export interface PipelineTaskSpec {
  taskInfo: { name: string };
  componentRef: { name: string };
  dependentTasks?: string[];
  inputs?: { parameters?: Record<string, TaskInputParameterSpec> };
  /** A CEL expression over `inputs.parameter_values[...]`; the task is skipped when it is false. */
  triggerPolicy?: { condition: string };
  cachingOptions?: { enableCache?: boolean };
}

export interface DagSpec {
  tasks: Record<string, PipelineTaskSpec>;
}

/** A component is either a container (executorLabel) or a DAG of tasks (dag). */
export interface ComponentSpec {
  inputDefinitions?: InputsSpec;
  outputDefinitions?: OutputsSpec;
  executorLabel?: string;
  dag?: DagSpec;
}

export interface ContainerSpec {
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value: string }>;
  resources?: { cpuLimit?: number; memoryLimit?: number; resourceCpuLimit?: string; resourceMemoryLimit?: string };
}

export interface PipelineSpec {
  pipelineInfo: { name: string; description?: string; displayName?: string };
  schemaVersion: string;
  sdkVersion: string;
  components: Record<string, ComponentSpec>;
  deploymentSpec: { executors: Record<string, { container: ContainerSpec }> };
  root: ComponentSpec & { dag: DagSpec };
  defaultPipelineRoot?: string;
}

/** Placeholders the IR defines for container arguments. */
export const placeholder = {
  input: (name: string): string => `{{$.inputs.parameters['${name}']}}`,
  outputFile: (name: string): string => `{{$.outputs.parameters['${name}'].output_file}}`,
  pipelineJobName: '{{$.pipeline_job_name}}',
  pipelineTaskName: '{{$.pipeline_task_name}}',
};

/** Every `{{$...}}` placeholder in a string. */
export const PLACEHOLDER_RE = /\{\{\$(?:\.[^{}]*)?\}\}/g;
export const INPUT_PLACEHOLDER_RE = /^\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}$/;
export const OUTPUT_FILE_PLACEHOLDER_RE = /^\{\{\$\.outputs\.parameters\['([^']+)'\]\.output_file\}\}$/;

/** JSON with object keys sorted at every level, so compiles are byte-for-byte reproducible. */
export function stableStringify(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v as Record<string, unknown>)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sort(value), null, 2) + '\n';
}
