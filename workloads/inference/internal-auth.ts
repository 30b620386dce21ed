import type { FastifyReply, FastifyRequest } from 'fastify';
import { OAuth2Client } from 'google-auth-library';
import type { WorkloadConfig } from '../core/config/schema';
import { sendError } from './http-errors';

/**
 * The internal routes (GET /predict, which Cloud Scheduler calls to ingest, and GET
 * /status) are on a public service, so the service checks the caller itself: an OIDC ID
 * token signed by Google (verified with google-auth-library against Google's
 * certificates, or `certsUrl`'s locally), for the configured audience, issued to the
 * configured service account with a verified email. Anything else is refused before any
 * work is done: 401 without a valid token, 403 for a valid token of another caller, 403
 * when no caller is configured at all.
 */
export type InternalCallers = WorkloadConfig['inference']['ingestAuth'];

export function requireInternalCaller(callers: InternalCallers) {
  const client = new OAuth2Client({
    ...(callers.certsUrl ? { endpoints: { oauth2FederatedSignonPemCertsUrl: callers.certsUrl } } : {}),
    // Node's own fetch for the certificates (gaxios would import node-fetch, an ES module, at the first call).
    transporterOptions: { fetchImplementation: fetch },
  });
  return async function internalCallerOnly(req: FastifyRequest, reply: FastifyReply) {
    const route = `${req.method} ${req.routeOptions.url}`;
    if (!callers.audience || !callers.serviceAccount) {
      return sendError(
        reply,
        403,
        'internal_route',
        `${route} is for the service's scheduler, and none is configured (inference.ingestAuth.audience and .serviceAccount)`,
      );
    }
    const token = /^Bearer ([A-Za-z0-9._-]+)$/.exec(req.headers.authorization ?? '')?.[1];
    const refuse = () =>
      sendError(
        reply.header('www-authenticate', 'Bearer'),
        401,
        'unauthenticated',
        `${route} needs the scheduler's OIDC ID token (Authorization: Bearer)`,
      );
    if (!token) return refuse();
    let payload;
    try {
      payload = (await client.verifyIdToken({ idToken: token, audience: callers.audience })).getPayload();
    } catch (err) {
      // The library's messages can quote the token: log only what went wrong.
      req.log.warn({ event: 'internal_auth_refused', why: String((err as Error).message).split(/[:,]/)[0] }, `${route}: token refused`);
      return refuse();
    }
    if (payload?.email !== callers.serviceAccount || payload.email_verified !== true) {
      req.log.warn({ event: 'internal_auth_refused', email: payload?.email }, `${route}: a valid token of another caller`);
      return sendError(reply, 403, 'forbidden', `${route} is for the service's scheduler only`);
    }
  };
}
