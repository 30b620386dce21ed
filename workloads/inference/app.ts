import Fastify, { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { WorkloadConfig } from '../core/config/schema';
import type { DogImage } from '../core/dogapi/dog-ceo-client';
import type { Logger } from '../core/log';
import type { DataLake } from '../core/storage/data-lake';
import type { Warehouse } from '../core/warehouse/warehouse';
import { EventSink } from './event-sink';
import { ModelManager } from './models/model-manager';
import { WorkerPool } from './models/worker-pool';
import { Predictor } from './predictor';
import { classifyRoutes } from './routes/classify';
import { feedbackRoutes } from './routes/feedback';
import { healthRoutes } from './routes/health';
import { labelRoutes } from './routes/labels';
import { pageRoutes } from './routes/page';
import { predictRoutes } from './routes/predict';

/** Where `/predict` gets labelled photos: the Dog CEO API client, or anything with its shape. */
export interface DogImageSource {
  randomImage(): Promise<DogImage>;
  fetchImage(url: string): Promise<Buffer>;
}

export interface InferenceAppOptions {
  config: WorkloadConfig;
  lake: DataLake;
  warehouse: Warehouse;
  dogApi: DogImageSource;
  logger: Logger;
}

/** Everything the routes share, created per app (no module-level state). */
export interface InferenceContext {
  config: WorkloadConfig;
  lake: DataLake;
  dogApi: DogImageSource;
  sink: EventSink;
  pool: WorkerPool;
  models: ModelManager;
  predictor: Predictor;
}

declare module 'fastify' {
  interface FastifyInstance {
    inference: InferenceContext;
  }
}

/**
 * The inference service as a fastify app (not listening). Starts the worker pool and the
 * registry poller; `app.close()` stops accepting requests, lets in-flight ones finish,
 * stops the poller and the workers, and writes every queued warehouse row. The warehouse
 * itself belongs to the caller (close it after the app).
 */
export async function buildInferenceApp(options: InferenceAppOptions): Promise<FastifyInstance> {
  const { config, lake, warehouse, dogApi, logger } = options;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Honour a caller's request id (load balancers, the local supervisor); else make one.
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // Room for a multipart envelope around an image of the largest accepted size.
    bodyLimit: config.images.maxBytes + 64 * 1024,
  });

  const pool = new WorkerPool({
    workers: config.inference.workers,
    maxBatch: config.inference.maxBatch,
    maxBatchDelayMs: config.inference.maxBatchDelayMs,
    logger,
  });
  const models = new ModelManager({
    store: lake.models,
    pool,
    pollMs: config.inference.pointerPollMs,
    shadowChallenger: config.inference.shadowChallenger,
    logger,
  });
  const sink = new EventSink({ warehouse, logger, flushMs: config.inference.warehouseFlushMs });
  const ctx: InferenceContext = { config, lake, dogApi, sink, pool, models, predictor: new Predictor(config, models, pool) };
  app.decorate('inference', ctx);

  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  // Runs after the server has stopped accepting and every in-flight request has finished.
  app.addHook('onClose', async () => {
    await models.close();
    await pool.close();
    await sink.close();
    logger.info({ event: 'inference_closed', warehouse_rows_written: sink.written }, 'inference service closed; warehouse writes flushed');
  });

  await app.register(healthRoutes, { ctx });
  await app.register(labelRoutes, { ctx });
  await app.register(predictRoutes, { ctx });
  await app.register(classifyRoutes, { ctx });
  await app.register(feedbackRoutes, { ctx });
  await app.register(pageRoutes, { ctx });

  void pool.ready().then(
    (backend) =>
      logger.info({ event: 'tfjs_backend', backend, workers: pool.size }, `tfjs backend ${backend} in ${pool.size} inference workers`),
    (err: unknown) => logger.error({ err }, 'inference workers failed to start'),
  );
  models.start();
  return app;
}

export interface RouteOptions {
  ctx: InferenceContext;
}
