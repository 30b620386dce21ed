import { type DeepPartial, configToEnv } from '../core/config/load';
import type { WorkloadConfig } from '../core/config/schema';
import { ENTRY_POINTS } from '../core/entry-points';
import { SAFE_ID } from '../core/layout';
import { PIPELINE_STEPS } from '../core/pipeline-steps';

/**
 * The Dataflow Flex Template spec of the preprocessing step (the JSON file
 * `gcloud dataflow flex-template build --metadata-file` would produce, uploaded to GCS by
 * the Pulumi preprocessing component): `{image, sdkInfo, metadata, defaultEnvironment}`
 * as in the Dataflow v1beta3 `ContainerSpec`.
 *
 * Why `sdkInfo.language` is PYTHON: the spec's `SDKInfo.Language` enum is UNKNOWN, JAVA,
 * PYTHON or GO; there is no TypeScript/JavaScript value. The Apache Beam TypeScript SDK
 * submits to Dataflow through the *Python* SDK's job service
 * (`apache_beam.runners.dataflow.dataflow_job_service`), so a launcher image for a
 * TypeScript pipeline must carry Python + apache_beam anyway. See README.md
 * ("Scale-out") for what was found when evaluating that SDK.
 *
 * The parameters map one-to-one onto the step's CLI flags and CV_* configuration
 * ({@link flexParametersToInvocation}), so the launcher runs exactly the entry point the
 * local runner and Vertex step run.
 */

export interface FlexTemplateParameter {
  name: string;
  label: string;
  helpText: string;
  isOptional: boolean;
  regexes: string[];
}

export interface FlexTemplateSpec {
  image: string;
  sdkInfo: { language: 'JAVA' | 'PYTHON' | 'GO'; version?: string };
  metadata: { name: string; description: string; parameters: FlexTemplateParameter[] };
  defaultEnvironment?: Record<string, unknown>;
}

const BUCKET = '^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$';
const BOOL = '^(true|false)$';
const SHARE = '^(0(\\.[0-9]+)?|1(\\.0+)?)$';
const POSITIVE_INT = '^[1-9][0-9]{0,9}$';

/** Parameter → where it goes: a CLI flag, or a config key (by path). */
type Target = { flag: string } | { config: (v: string) => DeepPartial<WorkloadConfig> };

const PARAMETERS: (FlexTemplateParameter & { target: Target })[] = [
  {
    name: 'runId',
    label: 'Pipeline run id',
    helpText: 'Id of the pipeline run this dataset version belongs to (recorded in the manifest and the warehouse).',
    isOptional: false,
    regexes: [SAFE_ID.source],
    target: { flag: '--run-id' },
  },
  {
    name: 'rawBucket',
    label: 'Raw images bucket',
    helpText: 'Bucket with images/<id>.<ext> and labels/<id>.json (the inference service writes them).',
    isOptional: false,
    regexes: [BUCKET],
    target: { config: (v) => ({ storage: { backend: 'gcs', buckets: { raw: v } } }) },
  },
  {
    name: 'datasetsBucket',
    label: 'Datasets bucket',
    helpText: 'Bucket that receives versions/<version>/ (TFRecord shards per split, manifest.json written last).',
    isOptional: false,
    regexes: [BUCKET],
    target: { config: (v) => ({ storage: { backend: 'gcs', buckets: { datasets: v } } }) },
  },
  {
    name: 'bigqueryProject',
    label: 'BigQuery project',
    helpText: 'Project of the warehouse dataset (prediction log for hard examples; dataset_versions and class_distribution rows).',
    isOptional: false,
    regexes: ['^[a-z][a-z0-9-]{4,28}[a-z0-9]$'],
    target: { config: (v) => ({ warehouse: { backend: 'bigquery', projectId: v } }) },
  },
  {
    name: 'bigqueryDataset',
    label: 'BigQuery dataset',
    helpText: 'Warehouse dataset name.',
    isOptional: true,
    regexes: ['^[A-Za-z0-9_]{1,1024}$'],
    target: { config: (v) => ({ warehouse: { dataset: v } }) },
  },
  {
    name: 'shardMaxBytes',
    label: 'Maximum shard size (bytes)',
    helpText: 'TFRecord shards are cut before they exceed this many (uncompressed) bytes. Default 33554432.',
    isOptional: true,
    regexes: [POSITIVE_INT],
    target: { config: (v) => ({ preprocessing: { shardMaxBytes: Number(v) } }) },
  },
  {
    name: 'gzip',
    label: 'GZIP shards',
    helpText: 'Write .tfrecord.gz shards (TFRecordDataset compression_type="GZIP"). Default false.',
    isOptional: true,
    regexes: [BOOL],
    target: { config: (v) => ({ preprocessing: { gzip: v === 'true' } }) },
  },
  {
    name: 'replayShare',
    label: 'Hard-example replay share',
    helpText: 'Share (0-1) of the new version replayed from earlier versions, misclassified examples first. Default 0.3.',
    isOptional: true,
    regexes: [SHARE],
    target: { config: (v) => ({ preprocessing: { replayShare: Number(v) } }) },
  },
  {
    name: 'imageSize',
    label: 'Training image size',
    helpText: 'Side of the square JPEGs stored in the examples. Default 224.',
    isOptional: true,
    regexes: [POSITIVE_INT],
    target: { config: (v) => ({ preprocessing: { imageSize: Number(v) } }) },
  },
  {
    name: 'jpegQuality',
    label: 'JPEG quality',
    helpText: 'Quality (1-100) of the re-encoded JPEGs. Default 90.',
    isOptional: true,
    regexes: ['^([1-9][0-9]?|100)$'],
    target: { config: (v) => ({ preprocessing: { jpegQuality: Number(v) } }) },
  },
  {
    name: 'outputVersionFile',
    label: 'Output: dataset version file',
    helpText: 'Local path inside the launcher where the new version name is written (the pipeline step output).',
    isOptional: true,
    regexes: ['^/[A-Za-z0-9._/-]+$'],
    target: { flag: '--out-dataset-version' },
  },
];

/** The Flex Template spec for a launcher image (give its digest reference, never a moving tag). */
export function flexTemplateSpec(image: string): FlexTemplateSpec {
  if (!/@sha256:[0-9a-f]{64}$/.test(image) && !/:[A-Za-z0-9._-]+$/.test(image)) {
    throw new Error(`flexTemplateSpec: image ${JSON.stringify(image)} must be a reference with a digest (…@sha256:<64 hex>) or a tag`);
  }
  return {
    image,
    sdkInfo: { language: 'PYTHON' },
    metadata: {
      name: 'creature-vision-preprocess',
      description:
        'Labelled raw dog images → a new immutable, versioned TFRecord dataset (tf.train.Example, sharded per split, ' +
        'deterministic content-hash splits, hard-example replay). Same entry point as the pipeline step ' +
        `${PIPELINE_STEPS.preprocess.name} (${ENTRY_POINTS.preprocess.source}).`,
      parameters: PARAMETERS.map(({ target: _target, ...p }) => p),
    },
  };
}

/**
 * Turns launch parameters into the entry point's invocation: CLI flags plus CV_*
 * environment. Throws naming the parameter when a value is missing or fails its regex
 * (Dataflow checks the same regexes at launch).
 */
export function flexParametersToInvocation(params: Record<string, string>): { args: string[]; env: Record<string, string> } {
  const known = new Set(PARAMETERS.map((p) => p.name));
  const unknown = Object.keys(params).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new Error(`unknown Flex Template parameter(s) ${unknown.join(', ')}; accepted: ${[...known].join(', ')}`);
  const args: string[] = [];
  const env: Record<string, string> = {};
  for (const p of PARAMETERS) {
    const value = params[p.name];
    if (value === undefined) {
      if (!p.isOptional) throw new Error(`Flex Template parameter ${p.name} (${p.label}) is required`);
      continue;
    }
    for (const r of p.regexes) {
      if (!new RegExp(r).test(value))
        throw new Error(`Flex Template parameter ${p.name}=${JSON.stringify(value)} must match ${r}: ${p.helpText}`);
    }
    if ('flag' in p.target) args.push(p.target.flag, value);
    else Object.assign(env, configToEnv(p.target.config(value)));
  }
  return { args, env };
}
