import multipart from '@fastify/multipart';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { perceptualHash } from '../../core/dataset/perceptual-hash';
import { displayName } from '../../core/dogapi/breeds';
import { ImageRejectedError } from '../../core/images/normalize-image';
import { rawKeys } from '../../core/layout';
import { writeJson } from '../../core/storage/object-store';
import { ACCEPTED_IMAGES, DecodeTimeoutError, errorHandler, errorResponses, sendError, sendImageRejected } from '../http-errors';
import { logPredictions } from '../prediction-log';
import { openSetAnswerFor, predictionRows } from '../predictor';
import { newId, sha256, UploadRecord } from '../records';
import { breedPrediction, openSetAnswer, topKEntry } from '../schemas';
import { voterIds } from '../voters';

const classified = z.object({
  predictionId: z.string(),
  modelVersion: z.string(),
  answer: openSetAnswer,
  prediction: breedPrediction,
  topK: z.array(topKEntry),
  latencyMs: z.number(),
  image: z.object({ format: z.string(), width: z.number().int(), height: z.number().int() }),
});

/**
 * POST /classify: an uploaded photo, as multipart/form-data (field name free, the first
 * file counts) or as the raw body (Content-Type image/* or application/octet-stream).
 * Answers top-k breeds, a prediction id (for POST /feedback), the model version and the
 * latency. The photo and an upload record are stored for later labelling. Bad images get
 * a 4xx naming the problem and nothing is stored; with no model loaded: 503.
 */
export const classifyRoutes: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.inference;
  const { config, lake } = ctx;
  const raw = lake.raw;
  const limits = { maxBytes: config.images.maxBytes, maxPixels: config.images.maxPixels, minSide: config.images.minSide };
  const voterOf = voterIds(raw);

  // Encapsulated in this plugin: only /classify parses multipart and raw image bodies.
  await app.register(multipart, { limits: { fileSize: config.images.maxBytes, files: 1, fields: 10, fieldSize: 1024, parts: 20 } });
  const asBuffer = (_req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: Buffer) => void) => done(null, body);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: config.images.maxBytes }, asBuffer);
  app.addContentTypeParser(/^image\/[\w.+-]+$/, { parseAs: 'buffer', bodyLimit: config.images.maxBytes }, asBuffer);

  const mediaTypeHelp = (type: string | undefined) =>
    `Content-Type ${JSON.stringify(type ?? '(none)')} is not accepted: send the photo as multipart/form-data, or as a raw ${ACCEPTED_IMAGES} body with Content-Type image/* or application/octet-stream`;
  const tooLarge = (reply: FastifyReply) =>
    sendError(reply, 413, 'too_large_bytes', `the upload is larger than the limit of ${config.images.maxBytes} bytes`, { limits });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.code === 'FST_REQ_FILE_TOO_LARGE') return tooLarge(reply);
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return sendError(
        reply,
        415,
        'unsupported_media_type',
        `send the photo as multipart/form-data or as a raw ${ACCEPTED_IMAGES} body (Content-Type image/*)`,
      );
    }
    return errorHandler(err, req, reply);
  });

  // The daily upload quota per client, on top of the per-minute limit every public route has.
  const { uploadsPerDay } = config.inference.rateLimit;
  const quota = app.createRateLimit({ max: uploadsPerDay, timeWindow: 24 * 3600_000 });
  const uploadQuota = async (req: FastifyRequest, reply: FastifyReply) => {
    if (uploadsPerDay === 0) return;
    const q = await quota(req);
    if (!q.isAllowed && q.isExceeded) {
      return sendError(
        reply.header('retry-after', q.ttlInSeconds),
        429,
        'upload_quota',
        `the daily upload quota (${uploadsPerDay} photos per client) is used up; try again in ${Math.ceil(q.ttlInSeconds / 3600)} h`,
      );
    }
  };

  app.post(
    '/classify',
    {
      onRequest: uploadQuota,
      // Room for a multipart envelope around an image of the largest accepted size.
      bodyLimit: config.images.maxBytes + 64 * 1024,
      schema: { response: { 200: classified, ...errorResponses } },
    },
    async (req, reply) => {
      let bytes: Buffer;
      if (req.isMultipart()) {
        const file = await req.file();
        if (!file) return sendError(reply, 400, 'no_file', `the form has no file: attach a ${ACCEPTED_IMAGES} photo`);
        bytes = await file.toBuffer();
      } else if (Buffer.isBuffer(req.body)) {
        bytes = req.body;
      } else if (req.body === undefined || req.body === null) {
        bytes = Buffer.alloc(0);
      } else {
        // Parsed by fastify's text or JSON parser: not a photo upload.
        return sendError(reply, 415, 'unsupported_media_type', mediaTypeHelp(req.headers['content-type']));
      }

      // The photo's perceptual hash (trust: near-duplicates are one photo), beside the prediction.
      const phash = perceptualHash(bytes, { maxPixels: limits.maxPixels }).catch(() => undefined);
      let outcome;
      try {
        outcome = await ctx.predictor.run(bytes, { keepCopy: true });
      } catch (err) {
        if (err instanceof ImageRejectedError || err instanceof DecodeTimeoutError) {
          req.log.info({ reason: err.reason, bytes: bytes.length }, `image refused: ${err.message}`);
          return sendImageRejected(reply, err, limits);
        }
        throw err;
      }
      const champion = outcome.results[0];
      if (!champion || !outcome.copy) {
        return sendError(reply, 503, 'no_model', `no prediction can be made: ${outcome.noModelReason}. Nothing was stored.`);
      }

      const at = new Date();
      const id = newId(at);
      const { info } = outcome.image;
      // Kept until labelled: the bounded re-encoded copy, not the client's bytes (uploads/ expires).
      const { copy } = outcome;
      const imageKey = rawKeys.uploadImage(id);
      const latencyMs = Math.round(outcome.latencyMs * 10) / 10;
      // "Not a dog" / "none of our breeds": an answer, never a label (nothing here writes labels/).
      const answer = openSetAnswerFor(champion, outcome.dogProbability, config.inference.openSet);
      const record: UploadRecord = {
        id,
        imageKey,
        sha256: sha256(copy.jpeg),
        format: 'jpeg',
        width: copy.width,
        height: copy.height,
        original: { format: info.format, width: info.width, height: info.height, bytes: bytes.length },
        uploadedAt: at.toISOString(),
        requestId: req.id,
        phash: await phash,
        voter: await voterOf(req.ip),
        prediction: {
          predictedLabel: champion.predictedLabel,
          confidence: champion.confidence,
          modelVersion: champion.version,
          topK: champion.topK,
          latencyMs,
          answer,
        },
      };
      const rows = predictionRows({
        outcome,
        requestId: req.id,
        predictionId: id,
        source: 'upload',
        // Where the image is once labelled (training data joins prediction events on it).
        imageUri: raw.uri(rawKeys.image(id, 'jpg')),
        trueLabel: null,
        at,
        openSet: config.inference.openSet,
      });
      // The rows are written ahead while the upload is stored: durability adds no round trip to the answer.
      const events = ctx.sink.reserve('prediction_events', rows);
      try {
        await raw.write(imageKey, copy.jpeg, { ifGenerationMatch: '0', contentType: 'image/jpeg' });
        await writeJson(raw, rawKeys.upload(id), record, { ifGenerationMatch: '0' });
      } catch (err) {
        events.cancel();
        throw err;
      }
      await events.commit();
      logPredictions(req.log, rows);

      return {
        predictionId: id,
        modelVersion: champion.version,
        answer,
        prediction: { label: champion.predictedLabel, display: displayName(champion.predictedLabel), confidence: champion.confidence },
        topK: champion.topK,
        latencyMs,
        image: { format: info.format, width: info.width, height: info.height },
      };
    },
  );
};
