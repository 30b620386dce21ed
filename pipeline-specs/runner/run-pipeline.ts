import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IMAGE_USER, sourceArgv, sourceOfContainerCommand } from '../../workloads/core/entry-points';
import { assertSafeId, newVersionName } from '../../workloads/core/layout';
import type { ObjectStore } from '../../workloads/core/storage/object-store';
import type { Warehouse } from '../../workloads/core/warehouse/warehouse';
import { checkValueType } from '../builder';
import { evaluateCondition } from '../condition';
import {
  ComponentSpec,
  DagSpec,
  INPUT_PLACEHOLDER_RE,
  OUTPUT_FILE_PLACEHOLDER_RE,
  ParameterType,
  ParameterValue,
  PipelineSpec,
  PipelineTaskSpec,
  PLACEHOLDER_RE,
} from '../ir';
import { assertValidSpec, findCycle } from '../validate';
import { canSwitchUser, firstUnsearchable, freshHome, type ProcessUser } from './image-user';
import { runProcess } from './process';
import { createRecorder } from './record';
import type { RunEvent, RunResult, StepResult } from './types';

/**
 * The local runner: executes a compiled `PipelineSpec` (the same JSON Vertex AI runs) on
 * this machine. Each container task's command runs as a local process (see `launch`), with
 * IR placeholders resolved, in dependency order; output parameters travel between steps
 * through the `output_file` files, as in KFP. Conditions are honoured (skipped steps are
 * recorded), the first failure stops the run with that step's log tail, and an abort
 * signal stops the running step with SIGTERM.
 *
 * As strict as Vertex AI: an output file's path is under the run's directory, whose
 * per-task folders do not exist (Vertex creates none; a step creates its outputs'
 * directories), and a step starts in a working directory it cannot rely on for anything:
 * the image's working directory (`launch: fromImage(dir)`) or, from sources, an empty
 * read-only one. A step from the image runs as the image's user (entry-points.ts
 * `IMAGE_USER`), given what Vertex gives it and nothing more: the pipeline root (`workDir`,
 * Vertex's writable /gcs/ mount) is its to write, HOME is a fresh directory of its own (the
 * image's /home/node), and the image's directory is whatever its owner made it (root's and
 * read-only, like /app). Only root can start a process as another user: run by anyone else,
 * the runner runs the steps as that user and says so once per run (a `warning` event).
 */
export interface RunPipelineOptions {
  spec: PipelineSpec;
  /** Pipeline parameters (`root.inputDefinitions`); `run_id` defaults to the run id. */
  parameters?: Record<string, ParameterValue>;
  /** Run id; default `newRunId()`. Also what `{{$.pipeline_job_name}}` resolves to. */
  runId?: string;
  /** Environment of the step processes (the CV_* config); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** How a container command becomes a local process; default `fromSource()`. */
  launch?: StepLauncher;
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
  /** Where `pipeline_runs` rows go. */
  warehouse?: Warehouse;
  /** The pipeline bucket: run record and step outputs. */
  store?: ObjectStore;
  /**
   * The pipeline root for output_file files; default a fresh temp directory, removed afterwards.
   * Steps that run as the image's user own it (the runner chowns it when root) and must be able to reach it.
   */
  workDir?: string;
  /** Time between SIGTERM and SIGKILL when cancelled. */
  graceMs?: number;
}

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** What runs for a container's command: a program, its arguments, its working directory and user. */
export interface LocalProcess {
  command: string;
  args: string[];
  /** Working directory; empty: a fresh empty, read-only directory (nothing to rely on). */
  cwd?: string;
  /** The container's user (with a fresh HOME of its own); empty: the runner's own user and environment. */
  user?: ProcessUser;
}
/** Turns a container's command (`node dist/…js`) and arguments into a local process. */
export type StepLauncher = (command: readonly string[], args: readonly string[]) => LocalProcess;

/**
 * From a checkout (Node 20, no build): the TypeScript source of the entry point the
 * container command names, through tsx, in an empty read-only working directory, as the
 * invoking user: `npm start` and the local end-to-end tests give steps file-backed stores
 * (the local data root) that belong to that user, and a checkout's files are that user's
 * to read, which the image's user need not be able to do.
 */
export function fromSource(repoRoot: string = REPO_ROOT): StepLauncher {
  return (command, args) => {
    const [program, ...pre] = sourceArgv(repoRoot, sourceOfContainerCommand(command));
    return { command: program, args: [...pre, ...args] };
  };
}

/**
 * As the container runs it: the command as is (`node` is this Node binary), in a directory
 * laid out like the image's working directory (`dist/`, `node_modules/`; entry-points.ts),
 * as the image's user.
 */
export function fromImage(imageWorkdir: string): StepLauncher {
  return (command, args) => ({
    command: command[0] === 'node' ? process.execPath : command[0],
    args: [...command.slice(1), ...args],
    cwd: imageWorkdir,
    user: { uid: IMAGE_USER.uid, gid: IMAGE_USER.gid },
  });
}

/** Run ids are valid Vertex pipelineJobIds ([a-z0-9-], starting with a letter) and object-key safe. */
export function newRunId(now: Date = new Date()): string {
  return `run-${newVersionName(now).slice(1).toLowerCase()}`;
}

export async function runPipeline(options: RunPipelineOptions): Promise<RunResult> {
  const { spec } = options;
  assertValidSpec(spec);
  const runId = assertSafeId('run id', options.runId ?? newRunId());
  const parameters = resolvePipelineParameters(spec, { ...options.parameters }, runId);
  const launch = options.launch ?? fromSource();
  const env = options.env ?? process.env;
  const emit = (e: RunEvent): void => options.onEvent?.(e);
  const recorder = createRecorder({ warehouse: options.warehouse, store: options.store });
  const ownWorkDir = !options.workDir;
  const workDir = options.workDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), `cv-${runId}-`)));
  let emptyCwd: string | undefined;
  const stepCwd = async (wanted: string | undefined): Promise<string> => {
    if (wanted) return wanted;
    if (!emptyCwd) {
      emptyCwd = await fs.mkdtemp(path.join(os.tmpdir(), `cv-${runId}-cwd-`));
      await fs.chmod(emptyCwd, 0o555);
    }
    return emptyCwd;
  };
  const homes: string[] = [];
  let asUserChecked = false;
  /** What a step that runs as `user` needs: switched to when we are root, its pipeline root, a fresh HOME. */
  const stepUser = async (user: ProcessUser): Promise<{ user?: ProcessUser; HOME: string }> => {
    const switching = canSwitchUser();
    if (!asUserChecked) {
      asUserChecked = true;
      if (switching) {
        // The pipeline root is the step's to write (on Vertex, the bucket under /gcs/); the
        // folders under it are still the step's to create.
        await fs.mkdir(workDir, { recursive: true });
        await fs.chown(workDir, user.uid, user.gid);
        const blocked = await firstUnsearchable(workDir, user);
        if (blocked)
          throw new Error(
            `uid ${user.uid} cannot reach the pipeline root ${workDir}: ${blocked} is not searchable by it; ` +
              `give a pipeline root whose directories others may search (o+x)`,
          );
      } else {
        emit({
          type: 'warning',
          runId,
          message:
            `steps run as uid ${process.getuid?.() ?? '(this user)'}, not as uid ${user.uid} (the image's user): only root can ` +
            `start a process as another user. They are unprivileged all the same, but may write what this user owns, ` +
            `which the image's user could not on Vertex; run as root to check that too.`,
        });
      }
    }
    const home = freshHome(path.join(os.tmpdir(), `cv-${runId}-home-`), switching ? user : undefined);
    homes.push(home);
    return { user: switching ? user : undefined, HOME: home };
  };

  const started = Date.now();
  const result: RunResult = {
    runId,
    pipeline: spec.pipelineInfo.name,
    status: 'running',
    startedAt: new Date(started).toISOString(),
    durationS: 0,
    parameters,
    steps: [],
    warnings: [],
  };
  const warn = (messages: string[]): void => {
    for (const message of messages) {
      result.warnings.push(message);
      emit({ type: 'warning', runId, message });
    }
  };
  emit({ type: 'run-start', runId, pipeline: result.pipeline, parameters });
  warn(await recorder.run(result));

  const finishStep = async (step: StepResult): Promise<void> => {
    result.steps.push(step);
    emit({ type: 'step-end', runId, step });
    warn(await recorder.step(runId, step));
  };

  /** Records every container task under a skipped task as skipped, with the same reason. */
  const skipAll = async (dagName: string, task: PipelineTaskSpec, reason: string): Promise<void> => {
    const comp = spec.components[task.componentRef.name];
    if (comp.dag) {
      for (const [, inner] of orderTasks(task.componentRef.name, comp.dag)) await skipAll(task.componentRef.name, inner, reason);
      return;
    }
    await finishStep({
      task: task.taskInfo.name,
      dag: dagName,
      status: 'skipped',
      startedAt: new Date().toISOString(),
      durationS: 0,
      outputs: {},
      skipReason: reason,
    });
  };

  /** Runs a DAG; returns false when the run must stop (failure or cancellation). */
  const runDag = async (dagName: string, dag: DagSpec, owner: ComponentSpec, inputs: Record<string, ParameterValue>): Promise<boolean> => {
    const outputs = new Map<string, Record<string, ParameterValue>>();
    const notRun = new Map<string, string>(); // task -> why it did not run
    for (const [name, task] of orderTasks(dagName, dag)) {
      if (options.signal?.aborted) {
        result.status = 'cancelled';
        result.error ??= `cancelled before ${name}`;
        return false;
      }
      const blocked = [...upstreamOf(task)].find((dep) => notRun.has(dep));
      if (blocked) {
        const reason = `upstream task ${blocked} did not run (${notRun.get(blocked)})`;
        notRun.set(name, reason);
        await skipAll(dagName, task, reason);
        continue;
      }
      const values = resolveTaskInputs(name, task, owner, inputs, outputs);
      const condition = task.triggerPolicy?.condition;
      if (condition && !evaluateCondition(condition, values)) {
        const shown = Object.fromEntries(Object.entries(values).filter(([k]) => condition.includes(`'${k}'`)));
        const reason = `condition ${condition} is false (${JSON.stringify(shown)})`;
        notRun.set(name, 'condition false');
        await skipAll(dagName, task, reason);
        continue;
      }
      const comp = spec.components[task.componentRef.name];
      if (comp.dag) {
        if (!(await runDag(task.componentRef.name, comp.dag, comp, values))) return false;
        outputs.set(name, {});
        continue;
      }
      const step = await runContainer(dagName, name, comp, values);
      await finishStep(step);
      if (step.status !== 'succeeded') {
        result.status = step.status === 'cancelled' ? 'cancelled' : 'failed';
        result.error ??= step.error;
        return false;
      }
      outputs.set(name, step.outputs);
    }
    return true;
  };

  const runContainer = async (
    dagName: string,
    name: string,
    comp: ComponentSpec,
    values: Record<string, ParameterValue>,
  ): Promise<StepResult> => {
    const container = spec.deploymentSpec.executors[comp.executorLabel!].container;
    // Like Vertex: under the pipeline root, in a folder per run and task that nobody creates but the step.
    const outDir = path.join(workDir, runId, name);
    const outputDefs = comp.outputDefinitions?.parameters ?? {};
    const outputFiles = Object.fromEntries(Object.keys(outputDefs).map((o) => [o, path.join(outDir, o)]));
    const resolve = (arg: string): string =>
      arg.replace(PLACEHOLDER_RE, (ph) => {
        const input = INPUT_PLACEHOLDER_RE.exec(ph)?.[1];
        if (input !== undefined) return formatArg(values[input]);
        const output = OUTPUT_FILE_PLACEHOLDER_RE.exec(ph)?.[1];
        if (output !== undefined) return outputFiles[output];
        if (ph === '{{$.pipeline_job_name}}') return runId;
        if (ph === '{{$.pipeline_task_name}}') return name;
        throw new Error(`task ${name}: unsupported placeholder ${ph}`);
      });
    if (!container.command?.length) throw new Error(`task ${name}: executor has no command`);
    const argv = [...container.command, ...(container.args ?? [])].map(resolve);
    const local = launch(container.command, argv.slice(container.command.length));
    const command = local.command;
    // As the container's user: HOME is its own (what the container declares still wins, as on Vertex).
    const as = local.user ? await stepUser(local.user) : undefined;
    emit({ type: 'step-start', runId, task: name, command: argv });

    const startedAt = new Date();
    const proc = await runProcess({
      command,
      args: local.args,
      cwd: await stepCwd(local.cwd),
      user: as?.user,
      env: {
        ...env,
        ...(as ? { HOME: as.HOME } : {}),
        ...Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value])),
      },
      signal: options.signal,
      graceMs: options.graceMs,
      onLine: (stream, line) => emit({ type: 'log', runId, task: name, stream, line }),
    });
    const base = {
      task: name,
      dag: dagName,
      startedAt: startedAt.toISOString(),
      durationS: (Date.now() - startedAt.getTime()) / 1000,
      logTail: proc.tail,
    };
    const withTail = (msg: string): string =>
      proc.tail.length
        ? `${msg}\n--- last ${proc.tail.length} log lines of ${name} ---\n${proc.tail.join('\n')}`
        : `${msg} (it printed nothing)`;
    if (proc.aborted) return { ...base, status: 'cancelled', outputs: {}, error: `step ${name} was cancelled` };
    if (proc.spawnError)
      return { ...base, status: 'failed', outputs: {}, error: `step ${name} could not start ${command}: ${proc.spawnError.message}` };
    if (proc.exitCode !== 0) {
      const how = proc.signal ? `was killed by ${proc.signal}` : `exited with code ${proc.exitCode}`;
      return { ...base, status: 'failed', outputs: {}, error: withTail(`step ${name} ${how}`) };
    }
    const outputs: Record<string, ParameterValue> = {};
    for (const [key, def] of Object.entries(outputDefs)) {
      let text: string;
      try {
        text = await fs.readFile(outputFiles[key], 'utf8');
      } catch {
        return {
          ...base,
          status: 'failed',
          outputs: {},
          error: withTail(`step ${name} exited 0 but did not write its output ${key} to ${outputFiles[key]}`),
        };
      }
      try {
        outputs[key] = parseOutput(text, def.parameterType);
      } catch (err) {
        return {
          ...base,
          status: 'failed',
          outputs: {},
          error: withTail(`step ${name} wrote an invalid output ${key}: ${(err as Error).message}`),
        };
      }
    }
    return { ...base, status: 'succeeded', outputs };
  };

  try {
    const ok = await runDag('root', spec.root.dag, spec.root, parameters);
    if (ok) result.status = 'succeeded';
  } catch (err) {
    result.status = 'failed';
    result.error = (err as Error).message;
  } finally {
    result.finishedAt = new Date().toISOString();
    result.durationS = (Date.now() - started) / 1000;
    warn(await recorder.run(result));
    emit({ type: 'run-end', runId, result });
    if (ownWorkDir) await fs.rm(workDir, { recursive: true, force: true });
    if (emptyCwd) await fs.rm(emptyCwd, { recursive: true, force: true });
    for (const home of homes) await fs.rm(home, { recursive: true, force: true });
  }
  return result;
}

function resolvePipelineParameters(
  spec: PipelineSpec,
  given: Record<string, ParameterValue>,
  runId: string,
): Record<string, ParameterValue> {
  const defs = spec.root.inputDefinitions?.parameters ?? {};
  if ('run_id' in defs && given.run_id === undefined) given.run_id = runId;
  const problems: string[] = [];
  for (const name of Object.keys(given)) {
    if (!(name in defs))
      problems.push(`unknown pipeline parameter ${name}; ${spec.pipelineInfo.name} takes ${Object.keys(defs).join(', ') || 'none'}`);
  }
  const out: Record<string, ParameterValue> = {};
  for (const [name, def] of Object.entries(defs)) {
    const value = given[name] ?? def.defaultValue;
    if (value === undefined) {
      if (!def.isOptional) problems.push(`pipeline parameter ${name} (${def.parameterType}) is required`);
      continue;
    }
    try {
      checkValueType(`pipeline parameter ${name}`, value, def.parameterType);
      out[name] = value;
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (problems.length) throw new Error(`cannot run ${spec.pipelineInfo.name}:\n  - ${problems.join('\n  - ')}`);
  return out;
}

/** Tasks in dependency order (ties by name, so runs are reproducible). */
function orderTasks(dagName: string, dag: DagSpec): Array<[string, PipelineTaskSpec]> {
  const tasks = dag.tasks;
  const edges = new Map(Object.entries(tasks).map(([n, t]) => [n, upstreamOf(t)]));
  const cycle = findCycle(edges);
  if (cycle) throw new Error(`${dagName}: tasks form a cycle: ${cycle.join(' -> ')}`);
  const done = new Set<string>();
  const order: Array<[string, PipelineTaskSpec]> = [];
  while (order.length < edges.size) {
    const ready = [...edges.keys()].filter((n) => !done.has(n) && [...edges.get(n)!].every((d) => done.has(d))).sort();
    done.add(ready[0]);
    order.push([ready[0], tasks[ready[0]]]);
  }
  return order;
}

function upstreamOf(task: PipelineTaskSpec): Set<string> {
  const deps = new Set(task.dependentTasks ?? []);
  for (const b of Object.values(task.inputs?.parameters ?? {})) if (b.taskOutputParameter) deps.add(b.taskOutputParameter.producerTask);
  return deps;
}

function resolveTaskInputs(
  name: string,
  task: PipelineTaskSpec,
  owner: ComponentSpec,
  inputs: Record<string, ParameterValue>,
  outputs: Map<string, Record<string, ParameterValue>>,
): Record<string, ParameterValue> {
  const values: Record<string, ParameterValue> = {};
  for (const [input, b] of Object.entries(task.inputs?.parameters ?? {})) {
    if (b.componentInputParameter !== undefined) {
      const v = inputs[b.componentInputParameter] ?? owner.inputDefinitions?.parameters?.[b.componentInputParameter]?.defaultValue;
      if (v === undefined) throw new Error(`task ${name}: input ${input} reads ${b.componentInputParameter}, which has no value`);
      values[input] = v;
    } else if (b.taskOutputParameter) {
      const { producerTask, outputParameterKey } = b.taskOutputParameter;
      const v = outputs.get(producerTask)?.[outputParameterKey];
      if (v === undefined)
        throw new Error(`task ${name}: input ${input} reads output ${outputParameterKey} of ${producerTask}, which has no value`);
      values[input] = v;
    } else if (b.runtimeValue) {
      values[input] = b.runtimeValue.constant;
    }
  }
  return values;
}

/** How a parameter value appears on a command line (KFP: strings raw, the rest as JSON). */
function formatArg(value: ParameterValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Parses an output file the way the KFP launcher does: STRING is the exact file content
 * (no trimming: a trailing newline would also break a `== 'promote'` condition on Vertex),
 * other types are JSON.
 */
export function parseOutput(text: string, type: ParameterType): ParameterValue {
  if (type === 'STRING') return text;
  let value: ParameterValue;
  try {
    value = JSON.parse(text) as ParameterValue;
  } catch {
    throw new Error(
      `expected a ${type} as JSON (e.g. ${type === 'BOOLEAN' ? 'true or false' : '42'}), got ${JSON.stringify(text.slice(0, 80))}`,
    );
  }
  checkValueType('output', value, type);
  return value;
}
