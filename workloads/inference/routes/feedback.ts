import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RawLabel } from '../../core/dataset/raw-label';
import { rawKeys, SAFE_ID } from '../../core/layout';
import { PreconditionFailedError, readJson, writeJson } from '../../core/storage/object-store';
import { errorBody, sendError } from '../http-errors';
import { keepUploadImage, newId, readUpload, UploadRecord, writeLabelOnce } from '../records';
import { knownLabels } from './labels';

const feedbackBody = z.strictObject({
  predictionId: z.string().regex(SAFE_ID, 'must be a prediction id as POST /classify returns it'),
  correct: z.boolean(),
  label: z.string().min(1).max(100).optional(),
});

const recorded = z.object({
  feedbackId: z.string(),
  predictionId: z.string(),
  correct: z.boolean(),
  label: z.string().nullable(),
  labelled: z.boolean(),
  labelUri: z.string().optional(),
  /** A user's label is not trusted as given: it counts once a trust policy confirms it. */
  trusted: z.boolean(),
});

/** A second feedback's 409 shows the first. */
const feedbackError = errorBody.extend({
  feedback: z.object({ feedbackId: z.string(), correct: z.boolean(), label: z.string().nullable(), at: z.string() }).optional(),
});

/**
 * POST /feedback {predictionId, correct, label?}: a person says whether an upload's
 * prediction was right. A confirmed prediction, or a correction from the known labels,
 * writes a label object for the upload: untrusted (it reaches training and evaluation only
 * once a trust policy confirms it: operator review, agreeing users, or the serving model's
 * own agreement with a correction), with the photo's perceptual hash and the uploader's
 * pseudonymous voter id. Every feedback is a warehouse row. Feedback is given once per
 * prediction: the label is written first (if-absent), then the upload record is claimed
 * with a generation precondition, so two concurrent submissions (even to two replicas)
 * cannot both succeed, and a retry after a crash between the two finishes the job.
 */
export const feedbackRoutes: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.inference;
  const raw = ctx.lake.raw;

  app.post(
    '/feedback',
    {
      // The largest valid body is under 250 bytes; a bigger one is refused unread (413).
      bodyLimit: 1024,
      schema: { body: feedbackBody, response: { 201: recorded, '4xx': feedbackError, '5xx': errorBody } },
      config: { subject: 'feedback', expects: '{"predictionId": string, "correct": boolean, "label"?: string}' },
    },
    async (req, reply) => {
      const { predictionId, correct, label } = req.body;
      const found = await readUpload(raw, predictionId);
      if (!found) {
        const dogLabel = await readJson<RawLabel>(raw, rawKeys.label(predictionId));
        if (dogLabel) {
          return sendError(
            reply,
            409,
            'already_labelled',
            `prediction ${predictionId} is a dog API image already labelled ${dogLabel.label}; feedback is for uploads`,
          );
        }
        return sendError(
          reply,
          404,
          'unknown_prediction',
          `no upload prediction has the id ${predictionId}; use the predictionId that POST /classify returned`,
        );
      }
      const { record, generation } = found;
      if (record.feedback) {
        return sendError(
          reply,
          409,
          'feedback_exists',
          `feedback for prediction ${predictionId} was already recorded at ${record.feedback.at}`,
          {
            feedback: record.feedback,
          },
        );
      }
      const predicted = record.prediction.predictedLabel;
      if (label !== undefined) {
        const accepted = knownLabels(ctx);
        if (!accepted.some((a) => a.label === label)) {
          return sendError(
            reply,
            400,
            'unknown_label',
            `unknown label ${JSON.stringify(label)}; accepted labels are listed in "accepted"`,
            {
              accepted: accepted.map((a) => a.label),
            },
          );
        }
        if (correct && label !== predicted) {
          return sendError(reply, 400, 'inconsistent', `correct is true but label ${label} differs from the prediction ${predicted}`);
        }
        if (!correct && label === predicted) {
          return sendError(reply, 400, 'inconsistent', `correct is false but label ${label} is the prediction itself; send correct: true`);
        }
      }
      const trueLabel = correct ? predicted : (label ?? null);
      const at = new Date();
      const feedbackId = newId(at);
      // The label first, then the claim: a crash in between leaves a label the retry finds
      // (and recognises as its own), never a claimed upload without its label.
      let labelled = false;
      if (trueLabel) {
        const labelObject: RawLabel = {
          id: predictionId,
          imageKey: await keepUploadImage(raw, record),
          label: trueLabel,
          source: 'upload',
          // A user's word: kept out of training and evaluation until a trust policy confirms it.
          trust: 'untrusted',
          ...(record.phash ? { phash: record.phash } : {}),
          ...(record.voter ? { voter: record.voter } : {}),
          modelProbability: record.prediction.topK.find((t) => t.label === trueLabel)?.probability ?? null,
          labelledAt: at.toISOString(),
          sha256: record.sha256,
          predictionId,
          predictedLabel: predicted,
          correct,
        };
        labelled = await writeLabelOnce(raw, labelObject);
        if (!labelled) {
          const earlier = await readJson<RawLabel>(raw, rawKeys.label(predictionId));
          if (earlier?.label !== trueLabel || earlier.correct !== correct) {
            return sendError(reply, 409, 'feedback_exists', `prediction ${predictionId} is already labelled ${earlier?.label}`);
          }
          labelled = true; // this request's own label, from an attempt that stopped before its claim
        }
      }
      const updated: UploadRecord = { ...record, feedback: { feedbackId, correct, label: trueLabel, at: at.toISOString() } };
      try {
        await writeJson(raw, rawKeys.upload(predictionId), updated, { ifGenerationMatch: generation });
      } catch (err) {
        if (err instanceof PreconditionFailedError) {
          return sendError(reply, 409, 'feedback_exists', `feedback for prediction ${predictionId} was recorded concurrently`);
        }
        throw err;
      }
      await ctx.sink.add('feedback', [
        {
          ts: at,
          feedback_id: feedbackId,
          prediction_id: predictionId,
          correct,
          label: trueLabel,
          predicted_label: predicted,
          model_version: record.prediction.modelVersion,
        },
      ]);
      req.log.info(
        {
          event: 'feedback',
          prediction_id: predictionId,
          correct,
          label: trueLabel,
          predicted_label: predicted,
          model_version: record.prediction.modelVersion,
        },
        'feedback',
      );
      return reply.code(201).send({
        feedbackId,
        predictionId,
        correct,
        label: trueLabel,
        labelled,
        ...(labelled ? { labelUri: raw.uri(rawKeys.label(predictionId)) } : {}),
        trusted: false,
      });
    },
  );
};
