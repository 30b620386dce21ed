import Fastify, { type FastifyBaseLogger, FastifyInstance } from 'fastify';
import { type Logger, traceRequests } from '../core/log';
import type { TriggerService } from './service';

/**
 * HTTP face of the trigger: Cloud Scheduler POSTs /check on the retraining cron (with an
 * OIDC token that Cloud Run's invoker IAM verifies before the request reaches us).
 *   POST /check {force?: boolean} → 200 {fired, condition, reason, decisionId, runId?, submission?}
 *                                   502 when the decision fired but submission failed
 *   GET  /healthz                 → 200 {ok: true}
 */
export function buildTriggerServer(service: TriggerService, options: { logger?: Logger } = {}): FastifyInstance {
  const app = Fastify({
    // Request logs; none without a logger (tests).
    ...(options.logger ? { loggerInstance: options.logger as FastifyBaseLogger } : { logger: false }),
    // Reject unknown body fields instead of silently dropping them (ajv's fastify default).
    ajv: { customOptions: { removeAdditional: false } },
  });
  // Each request's log lines carry its trace (Cloud Logging groups them; core/log.ts).
  traceRequests(app);
  // Cloud Scheduler sends its body as application/octet-stream unless told otherwise: read it as JSON too.
  app.addContentTypeParser(['application/octet-stream', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body).trim();
    if (!text) return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(Object.assign(new Error(`POST /check body is not JSON: ${(err as Error).message}`), { statusCode: 400 }), undefined);
    }
  });
  app.post(
    '/check',
    {
      schema: {
        body: {
          anyOf: [{ type: 'null' }, { type: 'object', additionalProperties: false, properties: { force: { type: 'boolean' } } }],
        },
      },
    },
    async (req, reply) => {
      const body = (req.body ?? {}) as { force?: boolean };
      const outcome = await service.check({ force: body.force === true });
      const { decision } = outcome;
      const payload = {
        fired: decision.fire && !outcome.submitError,
        condition: decision.condition,
        reason: decision.reason,
        decisionId: decision.decisionId,
        inputs: decision.inputs,
        runId: outcome.runId,
        submission: outcome.submission ? { backend: outcome.submission.backend, name: outcome.submission.name } : undefined,
        error: outcome.submitError,
      };
      return reply.code(outcome.submitError ? 502 : 200).send(payload);
    },
  );
  app.get('/healthz', async () => ({ ok: true }));
  return app;
}
