import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { perceptualHash } from '../../core/dataset/perceptual-hash';
import type { RawLabel } from '../../core/dataset/raw-label';
import { displayName } from '../../core/dogapi/breeds';
import { FILE_EXTENSION, ImageRejectedError } from '../../core/images/normalize-image';
import { rawKeys } from '../../core/layout';
import { DecodeTimeoutError, errorResponses, sendError } from '../http-errors';
import { logPredictions } from '../prediction-log';
import { predictionRows } from '../predictor';
import { newId, sha256, writeLabelOnce } from '../records';
import { breedPrediction, topKEntry } from '../schemas';

const ingested = z.object({
  predictionId: z.string(),
  source: z.literal('dogapi'),
  imageUrl: z.string(),
  trueLabel: z.string(),
  trueDisplay: z.string(),
  /** null when no model is loaded yet (`reason` says why); the image is stored all the same. */
  prediction: breedPrediction.extend({ correct: z.boolean().nullable() }).nullable(),
  reason: z.string().optional(),
  topK: z.array(topKEntry),
  modelVersion: z.string().nullable(),
  shadow: z.array(z.object({ role: z.string(), modelVersion: z.string(), label: z.string(), confidence: z.number() })),
  latencyMs: z.number(),
  stored: z.object({ image: z.string(), label: z.string() }),
});

/**
 * GET /predict: one ingestion. A random photo and its true breed come from the dog image
 * API; the champion (and the challenger, in shadow) classify it; the photo and its label
 * object go to the raw bucket (training data); one prediction event per model goes to the
 * warehouse. Without a model the photo is still ingested and the answer says plainly that
 * no prediction was made.
 */
export const predictRoutes: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.inference;
  const raw = ctx.lake.raw;

  // Internal: the scheduler's call (its OIDC token is checked before any work); not rate limited.
  const internal = { onRequest: ctx.internalOnly, config: { rateLimit: false as const } };
  app.get('/predict', { ...internal, schema: { response: { 200: ingested, ...errorResponses } } }, async (req, reply) => {
    let dog;
    let bytes: Buffer;
    try {
      dog = await ctx.dogApi.randomImage();
      bytes = await ctx.dogApi.fetchImage(dog.url);
    } catch (err) {
      // What the API answered goes to the log only: an upstream body never reaches the caller.
      req.log.warn({ err }, 'dog image API failed');
      return sendError(
        reply,
        502,
        'dog_api_unavailable',
        `the dog image API failed (request ${req.id}); the details are in the service log`,
      );
    }

    // The photo's perceptual hash (trust: near-duplicates are one photo), beside the prediction.
    const phash = perceptualHash(bytes, { maxPixels: ctx.config.images.maxPixels }).catch(() => undefined);
    let outcome;
    try {
      outcome = await ctx.predictor.run(bytes);
    } catch (err) {
      if (err instanceof ImageRejectedError || err instanceof DecodeTimeoutError) {
        req.log.warn({ err, url: dog.url }, 'dog image API sent an unusable image');
        return sendError(reply, 502, 'dog_api_bad_image', `the dog image API sent an unusable image (${err.reason}; request ${req.id})`);
      }
      throw err;
    }

    const at = new Date();
    const id = newId(at);
    const imageKey = rawKeys.image(id, FILE_EXTENSION[outcome.image.info.format]);
    const champion = outcome.results[0];
    await raw.write(imageKey, bytes, { ifGenerationMatch: '0', contentType: `image/${outcome.image.info.format}` });
    const label: RawLabel = {
      id,
      imageKey,
      label: dog.label,
      source: 'dogapi',
      // The configured image API is the trusted source: its label goes to training and evaluation as it is.
      trust: 'trusted',
      phash: await phash,
      labelledAt: at.toISOString(),
      sha256: sha256(bytes),
      predictionId: id,
      predictedLabel: champion?.predictedLabel ?? null,
      correct: champion ? champion.predictedLabel === dog.label : null,
    };
    await writeLabelOnce(raw, label);

    const rows = predictionRows({
      outcome,
      requestId: req.id,
      predictionId: id,
      source: 'dogapi' as const,
      imageUri: raw.uri(imageKey),
      trueLabel: dog.label,
      at,
      openSet: ctx.config.inference.openSet,
    });
    await ctx.sink.add('prediction_events', rows);
    logPredictions(req.log, rows);

    return {
      predictionId: id,
      source: 'dogapi' as const,
      imageUrl: dog.url,
      trueLabel: dog.label,
      trueDisplay: displayName(dog.label),
      prediction: champion
        ? {
            label: champion.predictedLabel,
            display: displayName(champion.predictedLabel),
            confidence: champion.confidence,
            correct: champion.predictedLabel === dog.label,
          }
        : null,
      ...(champion ? {} : { reason: `no prediction was made: ${outcome.noModelReason}; the image was still stored with its label` }),
      topK: champion?.topK ?? [],
      modelVersion: champion?.version ?? null,
      shadow: outcome.results
        .slice(1)
        .map((r) => ({ role: r.role, modelVersion: r.version, label: r.predictedLabel, confidence: r.confidence })),
      latencyMs: Math.round(outcome.latencyMs * 10) / 10,
      stored: { image: raw.uri(imageKey), label: raw.uri(rawKeys.label(id)) },
    };
  });
};
