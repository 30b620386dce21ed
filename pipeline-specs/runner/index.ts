import { promises as fs } from 'node:fs';
import { COMPILED_SPEC_PATH } from '../compile';
import type { PipelineSpec } from '../ir';
import { assertValidSpec } from '../validate';

export { fromImage, fromSource, REPO_ROOT, runPipeline } from './run-pipeline';
export { assertSucceeded, PipelineRunError, type RunEvent, type RunResult } from './types';

/** The checked-in compiled continual-learning spec, validated. */
export async function loadCompiledSpec(file: string = COMPILED_SPEC_PATH): Promise<PipelineSpec> {
  const spec = JSON.parse(await fs.readFile(file, 'utf8')) as PipelineSpec;
  assertValidSpec(spec);
  return spec;
}
