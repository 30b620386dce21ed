import Fastify, { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { traceRequests } from '../core/log';
import { inferenceContext, InferenceContextOptions } from './context';
import { errorHandler } from './http-errors';
import { protection } from './protection';
import { classifyRoutes } from './routes/classify';
import { feedbackRoutes } from './routes/feedback';
import { healthRoutes } from './routes/health';
import { labelRoutes } from './routes/labels';
import { pageRoutes } from './routes/page';
import { predictRoutes } from './routes/predict';
import { reviewRoutes } from './routes/review';

export type InferenceAppOptions = InferenceContextOptions;

/** Default body limit: the JSON routes' bodies are a few hundred bytes. */
const JSON_BODY_LIMIT = 16 * 1024;

/**
 * A caller's `x-request-id` (a load balancer, the local supervisor) is kept when it is a
 * short token of plain characters; anything else (12,000 characters, spaces, control or
 * non-ASCII characters) is replaced by a fresh id, so a client cannot flood or forge
 * the log lines and warehouse rows it is written into.
 */
const PLAIN_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && PLAIN_REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * The inference service as a fastify app (not listening): the context plugin (workers,
 * model poller, warehouse sink: `app.inference`), then one plugin per route group, each
 * with its zod schemas. `app.close()` stops accepting requests, lets in-flight ones
 * finish, stops the poller and the workers, and writes every queued warehouse row. The
 * warehouse itself belongs to the caller (close it after the app).
 */
export async function buildInferenceApp(options: InferenceAppOptions): Promise<FastifyInstance> {
  const { config, logger } = options;
  const requestTimeout = config.inference.requestTimeoutMs;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    requestIdHeader: false,
    // The client's address (rate limits, logs): behind Cloud Run's front end, its X-Forwarded-For entry.
    trustProxy: (_address: string, hop: number) => hop < config.inference.trustProxyHops,
    genReqId: requestId,
    // JSON bodies are small; /classify raises its own limit to the image size.
    bodyLimit: JSON_BODY_LIMIT,
    // A client must send its whole request within requestTimeout (Node answers 408 and
    // closes); Node checks every connectionsCheckingInterval, so the cut comes within
    // about 1.25 × requestTimeout. An idle socket is closed after twice that.
    requestTimeout,
    connectionTimeout: 2 * requestTimeout,
    http: { requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: Math.min(5000, Math.ceil(requestTimeout / 4)) },
  });
  // Route schemas are zod: they validate requests and serialize answers, and give the handlers their types.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  // Each request's log lines carry its trace (Cloud Logging groups them; core/log.ts).
  traceRequests(app);
  // Once closing (SIGTERM), every answer also closes its connection: close() waits for all
  // connections, and a keep-alive client would otherwise hold its idle one open until the
  // shutdown grace ran out. Connections idle when closing starts are closed by fastify.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
    if (closing) reply.header('connection', 'close');
  });

  await app.register(protection, { config });
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
