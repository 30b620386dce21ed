import { parseFlags, runMain, stepFlags, UsageError, writeOutput } from '../core/cli';
import { loadConfig } from '../core/config/load';
import { assertSafeId } from '../core/layout';
import { createLogger } from '../core/log';
import { PIPELINE_STEPS } from '../core/pipeline-steps';
import { readHistory, readPointer } from '../core/model/registry';
import { listModelVersions } from '../core/model/model-version';
import { openDataLake } from '../core/storage/data-lake';
import { openWarehouse } from '../core/warehouse/open-warehouse';
import { evaluateAndGate } from './evaluate';
import { promote, rollback } from './promote';

const USAGE = `usage:
  evaluate --run-id <id> --model-version <v> [--dataset-version <d>] [--out-decision <file>] [--out-reason <file>]
      Scores the challenger and the production model on the same frozen evaluation set; applies the paired gate.
  promote  --run-id <id> --model-version <v> [--dataset-version <d>] [--out-production-version <file>]
      Moves production to <v> if its evaluation decided "promote" (atomic, compare-and-swap).
  rollback [--to <version>] [--reason <text>] [--run-id <id>]
      Moves production back to <version> (default: the previous production model).
  status
      Prints the registry pointers, complete model versions and pointer history.
Configuration (gate.*, storage, warehouse) comes from the CV_* environment.`;

runMain(
  'evaluation',
  async () => {
    const [sub, ...rest] = process.argv.slice(2);
    const { values } = parseFlags(rest, {
      ...stepFlags(PIPELINE_STEPS.evaluate),
      ...stepFlags(PIPELINE_STEPS.promote),
      to: { type: 'string' },
      reason: { type: 'string' },
      help: { type: 'boolean' },
    });
    if (values.help || !sub || sub === 'help') {
      process.stdout.write(`${USAGE}\n`);
      if (!sub) throw new UsageError('a sub-command is required: evaluate, promote, rollback or status');
      return;
    }
    const config = loadConfig();
    const log = createLogger('evaluation', config.logLevel);
    const lake = openDataLake(config);
    const need = (name: 'run-id' | 'model-version'): string => {
      const v = values[name];
      if (!v) throw new UsageError(`${sub}: --${name} is required`);
      return assertSafeId(name.replace('-', ' '), v);
    };

    if (sub === 'status') {
      const [prod, chal, versions, history] = await Promise.all([
        readPointer(lake.models, 'production'),
        readPointer(lake.models, 'challenger'),
        listModelVersions(lake.models),
        readHistory(lake.models),
      ]);
      process.stdout.write(
        JSON.stringify({ production: prod.pointer ?? null, challenger: chal.pointer ?? null, versions, history }, null, 2) + '\n',
      );
      return;
    }
    if (!['evaluate', 'promote', 'rollback'].includes(sub)) throw new UsageError(`unknown sub-command ${JSON.stringify(sub)}`);

    const warehouse = await openWarehouse(config);
    try {
      if (sub === 'evaluate') {
        const r = await evaluateAndGate({
          config,
          runId: need('run-id'),
          modelVersion: need('model-version'),
          datasetVersion: values['dataset-version'],
          lake,
          warehouse,
          log,
        });
        await writeOutput(values['out-decision'], r.decision);
        await writeOutput(values['out-reason'], r.reason);
        process.stdout.write(`${r.reason}\n`);
      } else if (sub === 'promote') {
        const r = await promote({ config, runId: need('run-id'), modelVersion: need('model-version'), lake, warehouse, log });
        await writeOutput(values['out-production-version'], r.productionVersion ?? '');
        process.stdout.write(`${r.promoted ? 'promoted' : 'unchanged'}: production = ${r.productionVersion ?? '(none)'}; ${r.reason}\n`);
      } else {
        const r = await rollback({ config, to: values.to, reason: values.reason, runId: values['run-id'], lake, warehouse, log });
        process.stdout.write(`${r.promoted ? 'rolled back' : 'unchanged'}: production = ${r.productionVersion}; ${r.reason}\n`);
      }
    } finally {
      await warehouse.close();
    }
  },
  USAGE,
);
