import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

const readiness = z.object({
  ready: z.boolean(),
  champion: z.string().nullable(),
  challenger: z.string().nullable(),
  backend: z.string().nullable(),
  workers: z.number().int(),
  reason: z.string().optional(),
});

/** `/healthz`: the process is alive. `/readyz`: a champion model is loaded in every worker. */
export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  const { models, pool } = app.inference;

  app.get('/healthz', { schema: { response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', { schema: { response: { 200: readiness, 503: readiness } } }, async (_req, reply) => {
    const { set, release } = models.acquire();
    release();
    const body = {
      ready: models.ready,
      champion: set.champion?.version ?? null,
      challenger: set.challenger?.version ?? null,
      backend: pool.backend,
      workers: pool.size,
      ...(models.ready ? {} : { reason: models.notReadyReason }),
    };
    return reply.code(body.ready ? 200 : 503).send(body);
  });
};
