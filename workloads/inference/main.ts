import sharp from 'sharp';
import { loadConfig } from '../core/config/load';
import { dogCeoClientFromConfig } from '../core/dogapi/dog-ceo-client';
import { startLocalDogApi } from '../core/dogapi/local-dog-api';
import { createLogger } from '../core/log';
import { openDataLake } from '../core/storage/data-lake';
import { openWarehouse } from '../core/warehouse/open-warehouse';
import { buildInferenceApp } from './app';

/**
 * The inference service process (`npm run serve`; the Cloud Run container's entry point).
 * Configuration comes from CV_* environment variables (workloads/core/config). On SIGTERM
 * (Cloud Run scale-in, the local supervisor stopping) it stops accepting connections,
 * lets in-flight requests finish, writes every queued warehouse row, and exits 0.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  // Every image is seen once: libvips' operation cache would only hold memory (up to 50 MB).
  sharp.cache(false);
  const logger = createLogger('inference', config.logLevel);
  const lake = openDataLake(config);
  const warehouse = await openWarehouse(config);

  // No dog API configured: serve the local dataset in-process with the Dog CEO API's shape.
  let localDogApi: Awaited<ReturnType<typeof startLocalDogApi>> | undefined;
  let dogApiUrl = config.dogApi.baseUrl;
  if (!dogApiUrl) {
    localDogApi = await startLocalDogApi({ datasetDir: config.dogApi.datasetDir });
    dogApiUrl = localDogApi.url;
    logger.info({ dog_api: dogApiUrl, dataset: config.dogApi.datasetDir }, 'dogApi.baseUrl is empty: serving the local dog dataset');
  }
  // The local dataset's breeds are the ones it serves (unless dogApi.breeds names them).
  const breeds = config.dogApi.breeds.length || !localDogApi ? config.dogApi.breeds : [...localDogApi.breeds.values()].map((b) => b.label);
  const dogApi = dogCeoClientFromConfig({ ...config, dogApi: { ...config.dogApi, breeds } }, dogApiUrl);

  const app = await buildInferenceApp({ config, lake, warehouse, dogApi, logger });
  const port = Number(process.env.PORT ?? config.inference.port); // Cloud Run sets PORT
  await app.listen({ host: config.inference.host, port });

  // Cloud Run sends SIGKILL 10 s after SIGTERM: in-flight requests get shutdownGraceMs
  // (≤ 6 s), the warehouse sink ~2.5 s to write or spill what is queued (context.ts), and
  // whatever still hangs at 9 s is cut short.
  const SHUTDOWN_DEADLINE_MS = 9000;
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const signalled = Date.now();
    logger.info({ signal }, `${signal}: draining in-flight requests, then flushing warehouse writes`);
    const force = setTimeout(() => {
      logger.error(`in-flight requests did not finish within ${config.inference.shutdownGraceMs} ms; closing their connections`);
      app.server.closeAllConnections();
    }, config.inference.shutdownGraceMs);
    force.unref();
    // Last resort: whatever hangs, the process ends before SIGKILL would (queued rows are spilled by then).
    const hard = setTimeout(() => {
      logger.error({ event: 'shutdown_cut_short', shutdown_ms: Date.now() - signalled }, 'shutdown did not complete in time; exiting');
      logger.flush?.();
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    hard.unref();
    let code = 0;
    try {
      await app.close();
      await localDogApi?.close();
      await warehouse.close();
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      code = 1;
    }
    logger.info({ event: 'inference_stopped', shutdown_ms: Date.now() - signalled }, 'inference service stopped');
    logger.flush?.();
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`inference service failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
