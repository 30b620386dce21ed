import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { PipelineSpec } from '../pipeline-specs/ir';
import { grafanaProvisioningFiles, GrafanaFilesContext } from '../workloads/monitoring/grafana';

/**
 * The repository artifacts the stack ships, which other parts of the repo produce: the
 * compiled pipeline spec and Grafana's provisioning files. Read here,
 * once, so the program itself stays a composition of components (and tests can pass
 * their own).
 */
export interface RepoArtifacts {
  pipelineSpec: PipelineSpec;
  /** Grafana files by absolute path on the VM (datasource, dashboard provider, dashboards). */
  grafanaFiles(ctx: GrafanaFilesContext): Record<string, string>;
}

export const REPO_ROOT = path.resolve(__dirname, '..');
export const PIPELINE_SPEC_PATH = path.join(REPO_ROOT, 'pipeline-specs', 'compiled', 'continual-learning.json');

export function loadPipelineSpec(file = PIPELINE_SPEC_PATH): PipelineSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the compiled pipeline spec ${file} (${(err as Error).message}); compile it in pipeline-specs/ first`, {
      cause: err,
    });
  }
  return JSON.parse(text) as PipelineSpec;
}

export function loadRepoArtifacts(): RepoArtifacts {
  return { pipelineSpec: loadPipelineSpec(), grafanaFiles: grafanaProvisioningFiles };
}
