import { promises as fs } from 'node:fs';
import { COMPILED_SPEC_PATH } from '../compile';
import type { PipelineSpec } from '../ir';
import { assertValidSpec } from '../validate';
import type { RunEvent } from './types';

export { fromImage, fromSource, newRunId, REPO_ROOT, runPipeline, type RunPipelineOptions, type StepLauncher } from './run-pipeline';
export { assertSucceeded, PipelineRunError, type RunEvent, type RunResult, type StepResult } from './types';

/** The checked-in compiled continual-learning spec, validated. */
export async function loadCompiledSpec(file: string = COMPILED_SPEC_PATH): Promise<PipelineSpec> {
  const spec = JSON.parse(await fs.readFile(file, 'utf8')) as PipelineSpec;
  assertValidSpec(spec);
  return spec;
}

/**
 * An `onEvent` handler that prints step logs with a `[task]` prefix and one line per step
 * outcome, e.g. for `npm start` or a terminal.
 */
export function printEvents(write: (line: string) => void = (l) => process.stdout.write(l + '\n')): (e: RunEvent) => void {
  return (e) => {
    switch (e.type) {
      case 'run-start':
        write(`[pipeline] run ${e.runId} of ${e.pipeline} started ${JSON.stringify(e.parameters)}`);
        break;
      case 'step-start':
        write(`[pipeline] ${e.task}: ${e.command.join(' ')}`);
        break;
      case 'log':
        write(`[${e.task}] ${e.line}`);
        break;
      case 'step-end': {
        const s = e.step;
        const detail =
          s.status === 'succeeded' ? JSON.stringify(s.outputs) : s.status === 'skipped' ? s.skipReason : s.error?.split('\n')[0];
        write(`[pipeline] ${s.task} ${s.status} in ${s.durationS.toFixed(1)} s: ${detail ?? ''}`);
        break;
      }
      case 'warning':
        write(`[pipeline] warning: ${e.message}`);
        break;
      case 'run-end':
        write(`[pipeline] run ${e.runId} ${e.result.status} in ${e.result.durationS.toFixed(1)} s`);
        break;
    }
  };
}
