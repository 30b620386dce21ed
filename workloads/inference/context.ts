import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { WorkloadConfig } from '../core/config/schema';
import type { DogImage } from '../core/dogapi/dog-ceo-client';
import type { Logger } from '../core/log';
import type { DataLake } from '../core/storage/data-lake';
import type { Warehouse } from '../core/warehouse/warehouse';
import { EventSink } from './event-sink';
import { requireInternalCaller } from './internal-auth';
import { modelZeroBootstrap } from './models/bootstrap';
import { BREEDS } from '../core/dogapi/breeds';
import { ModelManager } from './models/model-manager';
import { WorkerPool } from './models/worker-pool';
import { Predictor } from './predictor';

/**
 * The inference context plugin: what every route shares (config, buckets, the dog image
 * source, the warehouse event sink, the worker pool, the model manager, the predictor),
 * created per app (no module-level state) and published as `app.inference` on the root
 * instance (fastify-plugin breaks encapsulation for exactly this). Routes read it from
 * their instance; nothing is handed to them in options. On close (after the server has
 * stopped accepting and every in-flight request has finished) it stops the poller and
 * the workers, and writes every queued warehouse row.
 */

/** Where `/predict` gets labelled photos: the Dog CEO API client, or anything with its shape. */
export interface DogImageSource {
  randomImage(): Promise<DogImage>;
  fetchImage(url: string): Promise<Buffer>;
  /** The labels its images may have (default: the breed table). Model zero names the same breeds. */
  readonly breeds?: ReadonlySet<string>;
}

export interface InferenceContextOptions {
  config: WorkloadConfig;
  lake: DataLake;
  warehouse: Warehouse;
  dogApi: DogImageSource;
  logger: Logger;
}

export interface InferenceContext {
  config: WorkloadConfig;
  lake: DataLake;
  dogApi: DogImageSource;
  sink: EventSink;
  pool: WorkerPool;
  models: ModelManager;
  predictor: Predictor;
  /** onRequest hook of the internal routes: only the configured scheduler may call them (./internal-auth.ts). */
  internalOnly: ReturnType<typeof requireInternalCaller>;
}

declare module 'fastify' {
  interface FastifyInstance {
    inference: InferenceContext;
  }
}

/** The sink's share of the shutdown (main.ts): write what is queued, spill what cannot be written. */
const SINK_CLOSE_MS = 2500;

const contextPlugin: FastifyPluginAsync<InferenceContextOptions> = async (app, options) => {
  const { config, lake, warehouse, dogApi, logger } = options;
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
    bootstrap: modelZeroBootstrap({
      model: config.model,
      // The breeds ingestion accepts: a model zero naming others could never be replaced, as
      // no challenger trained on this stack's photos would name them (the gate's keeps_breeds).
      breeds: dogApi.breeds ? BREEDS.filter((b) => dogApi.breeds!.has(b.label)) : undefined,
      store: lake.models,
      record: (rows) =>
        void sink.add('model_events', rows).catch((err: unknown) => logger.error({ err, rows }, 'model events could not be queued')),
      logger,
    }),
  });
  const sink = new EventSink({
    warehouse,
    logger,
    spill: lake.raw,
    flushMs: config.inference.warehouseFlushMs,
    writeAhead: config.inference.warehouseWriteAhead,
  });
  app.decorate('inference', {
    config,
    lake,
    dogApi,
    sink,
    pool,
    models,
    predictor: new Predictor(config, models, pool),
    internalOnly: requireInternalCaller(config.inference.ingestAuth),
  });

  app.addHook('onClose', async () => {
    await models.close();
    await pool.close();
    await sink.close(SINK_CLOSE_MS);
    logger.info({ event: 'inference_closed', warehouse_rows_written: sink.written }, 'inference service closed; warehouse writes flushed');
  });

  void pool.ready().then(
    (backend) =>
      logger.info({ event: 'tfjs_backend', backend, workers: pool.size }, `tfjs backend ${backend} in ${pool.size} inference workers`),
    (err: unknown) => logger.error({ err }, 'inference workers failed to start'),
  );
  models.start();
};

export const inferenceContext = fp(contextPlugin, { name: 'inference-context', fastify: '5.x' });
