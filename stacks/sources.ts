import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { FlexTemplateMetadata } from '../components/flex-template';
import type { PipelineSpec } from '../pipeline-specs/ir';
import { flagOf, PIPELINE_STEPS } from '../workloads/core/pipeline-steps';
import { grafanaProvisioningFiles, GrafanaFilesContext } from '../workloads/monitoring/grafana';

/**
 * What the stack ships that other parts of the repo produce: the compiled pipeline spec,
 * the preprocessing Flex Template metadata, and Grafana's provisioning files. Read here,
 * once, so the program itself stays a composition of components (and tests can pass
 * their own).
 */
export interface StackSources {
  pipelineSpec: PipelineSpec;
  flexTemplate: FlexTemplateMetadata;
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

/** The preprocess step's own inputs become the template's launch parameters. */
export function preprocessingTemplateMetadata(): FlexTemplateMetadata {
  const step = PIPELINE_STEPS.preprocess;
  return {
    name: 'creature-vision-preprocessing',
    description: 'Raw images and labels to a new versioned TFRecord dataset (train/validation/test splits, replay of earlier versions).',
    sdkLanguage: 'PYTHON',
    parameters: step.inputs.map((input) => ({
      name: input,
      label: input.replace(/_/g, ' '),
      helpText: `Passed to ${step.entry} as ${flagOf(input)}`,
      isOptional: false,
      regexes: ['^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'],
    })),
  };
}

export function loadSources(): StackSources {
  return { pipelineSpec: loadPipelineSpec(), flexTemplate: preprocessingTemplateMetadata(), grafanaFiles: grafanaProvisioningFiles };
}
