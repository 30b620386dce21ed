import type { FastifyReply } from 'fastify';
import { ImageRejectedError, RejectReason } from '../core/images/normalize-image';

/**
 * HTTP answers for refused images. Status by reason:
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
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

export const ACCEPTED_IMAGES = 'JPEG, PNG or WebP';

/** Error body in fastify's own shape, plus a machine-readable `reason` and extras. */
export function sendError(reply: FastifyReply, status: number, reason: string, message: string, extra: Record<string, unknown> = {}) {
  return reply.code(status).send({ statusCode: status, error: STATUS_TEXT[status] ?? 'Error', reason, message, ...extra });
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

/** Rejects when `work` takes longer than `ms`. (sharp cannot be cancelled; its result is dropped.) */
export function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  work.catch(() => undefined); // a late failure after the timeout is not an unhandled rejection
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
