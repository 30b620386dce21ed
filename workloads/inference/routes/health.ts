import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../app';

/** `/healthz`: the process is alive. `/readyz`: a champion model is loaded in every worker. */
export async function healthRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const { set, release } = ctx.models.acquire();
    release();
    const body = {
      ready: ctx.models.ready,
      champion: set.champion?.version ?? null,
      challenger: set.challenger?.version ?? null,
      backend: ctx.pool.backend,
      workers: ctx.pool.size,
      ...(ctx.models.ready ? {} : { reason: ctx.models.notReadyReason }),
    };
    return reply.code(body.ready ? 200 : 503).send(body);
  });
}
