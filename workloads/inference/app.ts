import Fastify, { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { randomUUID } from 'node:crypto';
import { traceRequests } from '../core/log';
import { inferenceContext, InferenceContextOptions } from './context';
import { errorHandler } from './http-errors';
import { classifyRoutes } from './routes/classify';
import { feedbackRoutes } from './routes/feedback';
import { healthRoutes } from './routes/health';
import { labelRoutes } from './routes/labels';
import { pageRoutes } from './routes/page';
import { predictRoutes } from './routes/predict';
import { reviewRoutes } from './routes/review';

export type InferenceAppOptions = InferenceContextOptions;

/**
 * The inference service as a fastify app (not listening): the context plugin (workers,
 * model poller, warehouse sink: `app.inference`), then one plugin per route group, each
 * with its zod schemas. `app.close()` stops accepting requests, lets in-flight ones
 * finish, stops the poller and the workers, and writes every queued warehouse row. The
 * warehouse itself belongs to the caller (close it after the app).
 */
export async function buildInferenceApp(options: InferenceAppOptions): Promise<FastifyInstance> {
  const { config, logger } = options;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Honour a caller's request id (load balancers, the local supervisor); else make one.
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // Room for a multipart envelope around an image of the largest accepted size.
    bodyLimit: config.images.maxBytes + 64 * 1024,
  });
  // Route schemas are zod: they validate requests and serialize answers, and give the handlers their types.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  // Each request's log lines carry its trace (Cloud Logging groups them; core/log.ts).
  traceRequests(app);
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  await app.register(inferenceContext, options);
  await app.register(healthRoutes);
  await app.register(labelRoutes);
  await app.register(predictRoutes);
  await app.register(classifyRoutes);
  await app.register(feedbackRoutes);
  await app.register(pageRoutes);
  await app.register(reviewRoutes);
  return app;
}
