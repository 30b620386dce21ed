import { createHash, randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../core/config/load';
import { readModelMeta } from '../core/model/model-version';
import { readPointer } from '../core/model/registry';
import { formatCycleTable, runCycles } from './cycles';
import { LocalLoop } from './local-loop';
import { formatStatus, readStatus, StatusLine } from './status';

const USAGE = `Usage: npm start [-- options]

Runs the whole continual-learning loop on this machine: the local dog image API over
../shared/datasets/dogs, the inference service, the dashboard, ingestion on a timer, the
retraining trigger, and the pipeline (preprocess → train → evaluate → promote).

Options:
  --cycles N        run N full cycles as fast as the data allows, print a summary, exit
  --data-root DIR   where all state lives (default: config dataRoot, .creature-vision)
  --dashboard-port  port of the warehouse + dashboard hub (default 8090)
  -h, --help        this text

Configuration: every CV_* variable (see README, "Configuration"), e.g.
  CV_TRIGGER_MIN_NEW_LABELLED=300 CV_TRAINING_EPOCHS=20 npm start`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      cycles: { type: 'string' },
      'data-root': { type: 'string' },
      'dashboard-port': { type: 'string', default: '8090' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const cycles = values.cycles === undefined ? undefined : Number(values.cycles);
  if (cycles !== undefined && (!Number.isInteger(cycles) || cycles < 1)) {
    process.stderr.write(`--cycles ${values.cycles}: expected a whole number ≥ 1\n`);
    return 2;
  }
  const hubPort = Number(values['dashboard-port']);
  if (!Number.isInteger(hubPort) || hubPort < 0 || hubPort > 65535) {
    process.stderr.write(`--dashboard-port ${values['dashboard-port']}: expected a port number 0-65535\n`);
    return 2;
  }

  let config;
  try {
    config = loadConfig({ overrides: values['data-root'] ? { dataRoot: values['data-root'] } : {} });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }

  // The operator's review page needs a token; locally one is made per run (its SHA-256 goes to the service).
  let reviewToken: string | undefined;
  if (!config.trust.reviewTokenSha256) {
    reviewToken = randomBytes(18).toString('base64url');
    config = { ...config, trust: { ...config.trust, reviewTokenSha256: createHash('sha256').update(reviewToken).digest('hex') } };
  }

  const status = new StatusLine();
  const say = (line: string): void => status.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
  const loop = new LocalLoop({ config, hubPort, say });

  const stopping = new AbortController();
  let stopped: Promise<void> | undefined;
  const stop = (signal: string): Promise<void> => {
    if (!stopped) {
      say(`${signal}: stopping (finishing in-flight work, cancelling a running pipeline step; nothing is left half-written)…`);
      stopping.abort();
      stopped = loop.stop();
    }
    return stopped;
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  say(`starting the local loop; state in ${path.resolve(config.dataRoot)}`);
  try {
    await loop.start();
  } catch (err) {
    await loop.stop().catch(() => undefined);
    throw err;
  }
  const s = loop.services;
  process.stdout.write(
    [
      '',
      `  Upload page (inference service):  ${s.inferenceUrl}/`,
      `  Dashboard:                        ${s.hubUrl}/dashboard`,
      `  Review users' labels (operator):  ${s.inferenceUrl}/review${reviewToken ? `#token=${reviewToken}` : ' (with your configured token)'}`,
      `  Dog image API (local):            ${s.dogApiUrl}/api/breeds/image/random`,
      `  Logs:                             ${s.logDir}`,
      '',
      '',
    ].join('\n'),
  );

  const refresh = async (): Promise<void> => {
    try {
      const st = await readStatus(s.warehouse, s.lake.models);
      st.pipeline = loop.pipelineState;
      status.update(formatStatus(st));
    } catch {
      /* the warehouse is closing */
    }
  };
  const ticker = setInterval(() => void refresh(), 1000);

  try {
    if (cycles !== undefined) {
      const rows = await runCycles(loop, cycles, say, stopping.signal);
      clearInterval(ticker);
      status.end();
      process.stdout.write(`\n${formatCycleTable(rows)}\n`);
      const { pointer } = await readPointer(s.lake.models, 'production');
      if (pointer) {
        const meta = await readModelMeta(s.lake.models, pointer.version);
        const from = meta.kind === 'zero-shot' ? 'zero-shot model zero, no training data' : `dataset ${meta.datasetVersion}`;
        process.stdout.write(`champion: ${pointer.version} (${meta.labels.length} breeds, ${from})\n`);
      } else process.stdout.write('champion: none (no model passed the gate)\n');
      await stop('done');
      const failed = rows.filter((r) => r.status !== 'succeeded');
      if (rows.length < cycles) process.stderr.write(`only ${rows.length} of ${cycles} cycles ran\n`);
      return failed.length || rows.length < cycles ? 1 : 0;
    }
    loop.startSchedules();
    await new Promise<void>((resolve) => stopping.signal.addEventListener('abort', () => resolve()));
    await stopped;
    return 0;
  } catch (err) {
    await stop('error').catch(() => undefined);
    throw err;
  } finally {
    clearInterval(ticker);
    status.end();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`\nnpm start failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
