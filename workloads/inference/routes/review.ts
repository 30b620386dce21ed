import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import type { RawLabel } from '../../core/dataset/raw-label';
import { rawKeys } from '../../core/layout';
import { readJson } from '../../core/storage/object-store';
import { recordReview, ReviewError, reviewQueue } from '../../review/queue';
import { errorResponses, sendError } from '../http-errors';
import { staticDir } from './page';

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const vote = z.object({ label: z.string(), voters: z.array(z.string()) });
const item = z.object({
  id: z.string(),
  status: z.string(),
  members: z.number().int(),
  votes: z.array(vote),
  model: z.object({ predicted: z.string().nullable() }),
  firstLabelledAt: z.string(),
  reason: z.string(),
  photoUrl: z.string(),
});
const decisionBody = z.object({
  decision: z.enum(['approve', 'reject']),
  label: z
    .string()
    .regex(/^[a-z0-9]+(?:_[a-z0-9]+)*$/, 'must be a snake_case breed label such as golden_retriever')
    .optional(),
  reviewer: z.string().min(1).max(100).optional(),
  note: z.string().max(500).optional(),
});
const decided = z.object({
  id: z.string(),
  decision: z.enum(['approve', 'reject']),
  label: z.string().nullable(),
  reviewer: z.string(),
  at: z.string(),
});

/**
 * The operator's review page and its routes: users' photos no trust policy has confirmed,
 * with the photo, the model's guess and the votes, and approve (with a label, a new breed
 * too) or reject. The same queue and decisions as `npm run review` (workloads/review/).
 * Operators only: every route but the page itself needs `Authorization: Bearer <token>`,
 * the token whose SHA-256 is `trust.reviewTokenSha256`; with no hash configured the routes
 * do not exist (404).
 */
export const reviewRoutes: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.inference;
  const expected = ctx.config.trust.reviewTokenSha256;
  if (!expected) return;
  const expectedHash = Buffer.from(expected, 'hex');

  const operator = async (req: FastifyRequest, reply: FastifyReply) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const given = token ? createHash('sha256').update(token).digest() : Buffer.alloc(32);
    if (!token || !timingSafeEqual(given, expectedHash)) {
      return sendError(reply, 401, 'operator_only', 'the review routes need the operator token: Authorization: Bearer <token>');
    }
  };

  // The page holds no data: it asks for the token (or reads it from the URL fragment, which never reaches a server).
  const page = await readFile(path.join(staticDir(), 'review.html'));
  app.get('/review', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page));

  app.get(
    '/review/queue',
    { onRequest: operator, schema: { response: { 200: z.object({ items: z.array(item) }), ...errorResponses } } },
    async () => ({
      items: (await reviewQueue(ctx.lake, ctx.config)).map((i) => ({ ...i, photoUrl: `/review/photo/${i.id}` })),
    }),
  );

  app.get(
    '/review/photo/:id',
    { onRequest: operator, schema: { params: z.object({ id: z.string().regex(ID, 'must be a label id from the queue') }) } },
    async (req, reply) => {
      const label = await readJson<RawLabel>(ctx.lake.raw, rawKeys.label(req.params.id));
      if (!label) return sendError(reply, 404, 'unknown_label', `no label object ${req.params.id}`);
      const found = await ctx.lake.raw.readIfExists(label.imageKey);
      if (!found) return sendError(reply, 404, 'missing_image', `the photo of ${req.params.id} is missing`);
      const ext = label.imageKey.split('.').pop();
      return reply
        .header('content-type', ext === 'png' ? 'image/png' : ext === 'webp' ? 'image/webp' : 'image/jpeg')
        .header('cache-control', 'private, no-store')
        .send(found.data);
    },
  );

  app.post(
    '/review/:id',
    {
      onRequest: operator,
      schema: {
        params: z.object({ id: z.string().regex(ID, 'must be a label id from the queue') }),
        body: decisionBody,
        response: { 200: decided, ...errorResponses },
      },
      config: {
        subject: 'review decision',
        expects: '{"decision": "approve"|"reject", "label"?: string, "reviewer"?: string, "note"?: string}',
      },
    },
    async (req, reply) => {
      try {
        const review = await recordReview(ctx.lake.raw, { ...req.body, id: req.params.id, reviewer: req.body.reviewer ?? 'operator' });
        req.log.info({ event: 'review', id: review.id, decision: review.decision, label: review.label }, 'review');
        return review;
      } catch (err) {
        if (err instanceof ReviewError) return sendError(reply, 400, 'bad_review', err.message);
        throw err;
      }
    },
  );
};
