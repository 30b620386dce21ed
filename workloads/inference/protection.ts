import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { WorkloadConfig } from '../core/config/schema';
import { PAGE_SECURITY_HEADERS } from '../core/http/page-security';

/**
 * What every route of the service gets (fastify-plugin: registered on the root, so the
 * hooks apply to all routes registered after it):
 *  - security headers (@fastify/helmet): a strict Content-Security-Policy with
 *    frame-ancestors 'none', nosniff, no referrer leaks, HSTS;
 *  - a per-client rate limit (@fastify/rate-limit), `inference.rateLimit.perMinute`. The
 *    upload quota per day is the classify route's (it uses `app.createRateLimit`). The
 *    internal routes opt out (`config: { rateLimit: false }`): they are authenticated.
 */
const protectionPlugin: FastifyPluginAsync<{ config: WorkloadConfig }> = async (app, { config }) => {
  await app.register(helmet, PAGE_SECURITY_HEADERS);
  const { perMinute } = config.inference.rateLimit;
  await app.register(rateLimit, {
    global: perMinute > 0,
    max: perMinute,
    timeWindow: 60_000,
    // Answered through the service's error handler, in its error shape.
    errorResponseBuilder: (_req, context) =>
      Object.assign(new Error(`too many requests: at most ${context.max} a minute from one client; retry in ${context.after}`), {
        statusCode: context.statusCode,
        code: 'rate_limited',
      }),
  });
};

export const protection = fp(protectionPlugin, { name: 'inference-protection', fastify: '5.x' });
