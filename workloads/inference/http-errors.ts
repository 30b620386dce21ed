import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ImageRejectedError, RejectReason } from '../core/images/normalize-image';

/**
 * Every error answer of the service has one shape ({@link errorBody}: fastify's own
 * `statusCode`/`error`/`message`, plus a machine-readable `reason`), set by the routes
 * with {@link sendError} and by {@link errorHandler} for what fastify itself refuses
 * (malformed JSON, schema violations, oversized bodies).
 *
 * Refused images, status by reason:
 *  - 400 empty, not_an_image, corrupt (truncated or undecodable), too_small, decode_timeout
 *  - 413 too_large_bytes, too_many_pixels (both are "too big": bytes or a decompression bomb)
 *  - 415 unsupported_format (a real image, but not JPEG, PNG or WebP: GIF, SVG, TIFF, ...)
 * The body names the reason and what is accepted; nothing is stored.
 */
export type ImageProblem = RejectReason | 'decode_timeout';

export const STATUS_BY_REASON: Record<ImageProblem, number> = {
  empty: 400,
  not_an_image: 400,
  corrupt: 400,
  too_small: 400,
  decode_timeout: 400,
  too_large_bytes: 413,
  too_many_pixels: 413,
  unsupported_format: 415,
};

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

export const ACCEPTED_IMAGES = 'JPEG, PNG or WebP';

/** The error answer: fastify's shape, a `reason`, and the extras some refusals carry. */
export const errorBody = z.object({
  statusCode: z.number().int(),
  error: z.string(),
  reason: z.string(),
  message: z.string(),
  /** What would have been accepted: content types, labels. */
  accepted: z.array(z.string()).optional(),
  /** The limits an image is checked against. */
  limits: z.record(z.string(), z.number()).optional(),
});

/** Response schemas for the error statuses of a route (extend `errorBody` for route-specific extras). */
export const errorResponses = { '4xx': errorBody, '5xx': errorBody } as const;

/** Error body in fastify's own shape, plus a machine-readable `reason` and extras. */
export function sendError(reply: FastifyReply, status: number, reason: string, message: string, extra: Record<string, unknown> = {}) {
  return reply.code(status).send({ statusCode: status, error: STATUS_TEXT[status] ?? 'Error', reason, message, ...extra });
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the route's body should look like, for the answer to a malformed or invalid body. */
    expects?: string;
    /** What the body is, for "invalid <subject>: ..." (default: request). */
    subject?: string;
  }
}

/**
 * The service's error handler (set on the root instance; route plugins may set their own
 * for route-specific errors and fall back to this). Client errors keep fastify's message;
 * a route's `config.expects` says what was expected. Server errors answer a generic
 * message with the request id, and log the error.
 */
export function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  const { expects, subject } = req.routeOptions.config;
  if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return sendError(reply, 400, 'malformed_json', `the body is not valid JSON${expects ? `: send ${expects}` : ''}`);
  }
  if (err.validation) {
    return sendError(
      reply,
      400,
      'invalid_body',
      `invalid ${subject ?? 'request'}: ${err.message}${expects ? `; expected ${expects}` : ''}`,
    );
  }
  const status = err.statusCode ?? 500;
  if (status < 500) return sendError(reply, status, err.code ?? 'bad_request', err.message);
  // A server error's details (paths, bucket names, upstream answers) go to the log only.
  req.log.error({ err }, `${req.method} ${req.routeOptions.url ?? req.url} failed`);
  return sendError(reply, status, 'internal', `the service failed to answer (request ${req.id}); the details are in its log`);
}

export class DecodeTimeoutError extends Error {
  readonly reason = 'decode_timeout';
  constructor(ms: number) {
    super(`the image took longer than ${ms} ms to decode; send a smaller ${ACCEPTED_IMAGES} image`);
    this.name = 'DecodeTimeoutError';
  }
}

export function sendImageRejected(reply: FastifyReply, err: ImageRejectedError | DecodeTimeoutError, limits: Record<string, number>) {
  const reason = err.reason as ImageProblem;
  return sendError(reply, STATUS_BY_REASON[reason] ?? 400, reason, err.message, {
    accepted: ['image/jpeg', 'image/png', 'image/webp'],
    limits,
  });
}
