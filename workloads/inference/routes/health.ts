import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponses } from '../http-errors';

const readiness = z.object({ ready: z.boolean() });
const status = readiness.extend({
  champion: z.string().nullable(),
  challenger: z.string().nullable(),
  backend: z.string().nullable(),
  workers: z.number().int(),
  reason: z.string().optional(),
});

/**
 * `/healthz`: the process is alive. `/readyz`: a champion model is loaded in every worker
 * (the startup probe's check), and nothing more: the public learns no versions or
 * internals. `/status` says which models serve, on which backend and why not ready; it
 * is an internal route (the scheduler's token, see ../internal-auth.ts).
 */
export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  const { models, pool, internalOnly } = app.inference;

  app.get('/healthz', { schema: { response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', { schema: { response: { 200: readiness, 503: readiness } } }, async (_req, reply) =>
    reply.code(models.ready ? 200 : 503).send({ ready: models.ready }),
  );

  app.get(
    '/status',
    { onRequest: internalOnly, config: { rateLimit: false }, schema: { response: { 200: status, ...errorResponses } } },
    async () => {
      const { set, release } = models.acquire();
      release();
      return {
        ready: models.ready,
        champion: set.champion?.version ?? null,
        challenger: set.challenger?.version ?? null,
        backend: pool.backend,
        workers: pool.size,
        ...(models.ready ? {} : { reason: models.notReadyReason }),
      };
    },
  );
};
