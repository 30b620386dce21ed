/**
 * Runs the local Dog CEO API by hand:
 *
 *   npx tsx workloads/core/dogapi/serve.ts [--port 8090] [--host 127.0.0.1] [--dataset-dir DIR] [--seed N]
 *
 * The dataset folder defaults to config dogApi.datasetDir (env CV_DOG_API_DATASET_DIR),
 * resolved against the current directory. Try `curl http://127.0.0.1:8090/api/breeds/image/random`.
 */
import { parseArgs } from 'node:util';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '../config/load';
import { startLocalDogApi } from './local-dog-api';

const USAGE = 'usage: serve.ts [--port 8090] [--host 127.0.0.1] [--dataset-dir DIR] [--seed N]';

function intFlag(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`--${name} ${JSON.stringify(raw)}: expected a whole number from ${min} to ${max}\n${USAGE}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8090' },
      host: { type: 'string', default: '127.0.0.1' },
      'dataset-dir': { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const config = loadConfig();
  const datasetDir = path.resolve(values['dataset-dir'] ?? config.dogApi.datasetDir);
  const api = await startLocalDogApi({
    datasetDir,
    port: intFlag('port', values.port, 0, 65535),
    host: values.host,
    seed: intFlag('seed', values.seed, 0, 2 ** 32 - 1),
  });
  const photos = [...api.breeds.values()].reduce((n, b) => n + b.files.length, 0);
  console.log(`local Dog CEO API on ${api.url} serving ${photos} photos of ${api.breeds.size} breeds from ${datasetDir}`);
  console.log(`try: curl ${api.url}/api/breeds/image/random`);
  const stop = (): void => {
    void api.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError || err instanceof Error ? err.message : err);
  process.exit(1);
});
