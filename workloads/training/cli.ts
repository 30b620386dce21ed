import { parseFlags, runMain, stepFlags, UsageError, writeOutput } from '../core/cli';
import { loadConfig } from '../core/config/load';
import { createLogger } from '../core/log';
import { openWarehouse } from '../core/warehouse/open-warehouse';
import { assertSafeId } from '../core/layout';
import { PIPELINE_STEPS } from '../core/pipeline-steps';
import { progressReporter } from './progress';
import { trainModel } from './train';

const USAGE = `usage: train --run-id <id> [--dataset-version <v>] [--model-version <name>] [--parent <version>|none]
             [--no-resume] [--out-model-version <file>]
  Trains a model version from a dataset version (default: the newest). Configuration comes
  from the CV_* environment (training.*, model.*). Resumes from the run's checkpoint when
  one exists, unless --no-resume.`;

runMain(
  'train',
  async () => {
    const { values } = parseFlags(process.argv.slice(2), {
      ...stepFlags(PIPELINE_STEPS.train),
      'model-version': { type: 'string' },
      parent: { type: 'string' },
      'no-resume': { type: 'boolean' },
      help: { type: 'boolean' },
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
    const runId = values['run-id'];
    if (!runId) throw new UsageError('--run-id is required');
    assertSafeId('run id', runId);
    if (values['model-version']) assertSafeId('model version', values['model-version']);
    const config = loadConfig();
    const log = createLogger('training', config.logLevel);
    const warehouse = await openWarehouse(config);
    const progress = progressReporter();
    try {
      const result = await trainModel({
        config,
        runId,
        datasetVersion: values['dataset-version'],
        modelVersion: values['model-version'],
        parentVersion: values.parent === undefined ? undefined : values.parent === 'none' ? null : values.parent,
        resume: !values['no-resume'],
        warehouse,
        log,
        onProgress: progress.onProgress,
      });
      progress.stop();
      await writeOutput(values['out-model-version'], result.modelVersion);
      process.stdout.write(
        `${result.modelVersion}: test top-1 ${(result.test.top1 * 100).toFixed(1)}% (n=${result.test.n}), ` +
          `${result.history.length} epochs${result.resumedFromEpoch ? ` (resumed after epoch ${result.resumedFromEpoch})` : ''}, ` +
          `${result.durationS.toFixed(1)} s\n`,
      );
    } finally {
      progress.stop();
      await warehouse.close();
    }
  },
  USAGE,
);
