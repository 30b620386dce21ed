import { parseFlags, runMain, stepFlags, UsageError, writeOutput } from '../core/cli';
import { loadConfig } from '../core/config/load';
import { createLogger } from '../core/log';
import { PIPELINE_STEPS } from '../core/pipeline-steps';
import { openDataLake } from '../core/storage/data-lake';
import { openWarehouse } from '../core/warehouse/open-warehouse';
import { checkTrigger } from './check';
import { openSubmitter } from './open-submitter';
import { buildTriggerServer } from './server';
import { TriggerService } from './service';

/**
 * The trigger's entry point (image `trigger`, `npm run trigger -- <command>`):
 *
 *   check --run-id ID [--force true|false] [--out-should-run FILE] [--out-reason FILE]
 *       The pipeline's first step: decide (or reuse the decision the trigger service made
 *       for this run), log it, write should_run (JSON boolean) and reason (text).
 *   serve [--port N] [--host H]
 *       The HTTP service Cloud Scheduler calls (POST /check). Port: --port, else $PORT
 *       (Cloud Run), else 8090.
 */
const USAGE =
  'usage: cli.ts check --run-id ID [--force true|false] [--out-should-run FILE] [--out-reason FILE]\n       cli.ts serve [--port N] [--host H]';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseFlags(rest, {
    ...stepFlags(PIPELINE_STEPS.checkTrigger),
    port: { type: 'string' },
    host: { type: 'string' },
  });
  const config = loadConfig();
  const logger = createLogger('trigger', config.logLevel);
  const lake = openDataLake(config);

  if (command === 'check') {
    const runId = values['run-id'];
    if (!runId) throw new UsageError('check needs --run-id');
    const force = values.force ?? 'false';
    if (force !== 'true' && force !== 'false') throw new UsageError(`--force must be true or false, got ${JSON.stringify(force)}`);
    const warehouse = await openWarehouse(config);
    try {
      const result = await checkTrigger({ lake, warehouse, thresholds: config.trigger, intake: config, runId, force: force === 'true' });
      logger.info(
        { event: 'trigger_decision', fired: result.fire, condition: result.condition, reused: result.reused, run_id: runId },
        result.reason,
      );
      await writeOutput(values['out-should-run'], JSON.stringify(result.fire));
      await writeOutput(values['out-reason'], result.reason);
      return 0;
    } finally {
      await warehouse.close();
    }
  }

  if (command === 'serve') {
    const warehouse = await openWarehouse(config);
    const submitter = openSubmitter(config, lake);
    const service = new TriggerService({ lake, warehouse, thresholds: config.trigger, intake: config, submitter, logger });
    const app = buildTriggerServer(service, { logger });
    const port = Number(values.port ?? process.env.PORT ?? 8090);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(`--port must be 0-65535, got ${values.port ?? process.env.PORT}`);
    const host = values.host ?? (process.env.PORT ? '0.0.0.0' : '127.0.0.1');
    const address = await app.listen({ port, host });
    logger.info({ event: 'listening', address, runner: submitter.backend }, `trigger service on ${address}`);
    const stop = async (): Promise<void> => {
      await app.close();
      await warehouse.close();
      process.exit(0);
    };
    process.once('SIGTERM', () => void stop());
    process.once('SIGINT', () => void stop());
    return new Promise<number>(() => undefined);
  }
  throw new UsageError(command ? `unknown command ${JSON.stringify(command)}` : 'missing command');
}

if (require.main === module) runMain('trigger', () => main(process.argv.slice(2)), USAGE);
