import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RawLabel } from '../../core/dataset/raw-label';
import { rawKeys, SAFE_ID } from '../../core/layout';
import { PreconditionFailedError, readJson, writeJson } from '../../core/storage/object-store';
import { errorBody, sendError } from '../http-errors';
import { newId, readUpload, UploadRecord, writeLabelOnce } from '../records';
import { knownLabels } from './labels';

const feedbackBody = z.object({
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
});

/** A second feedback's 409 shows the first. */
const feedbackError = errorBody.extend({
  feedback: z.object({ feedbackId: z.string(), correct: z.boolean(), label: z.string().nullable(), at: z.string() }).optional(),
});

/**
 * POST /feedback {predictionId, correct, label?}: a person says whether an upload's
 * prediction was right. A confirmed prediction, or a correction from the known labels,
 * writes the label object that makes the upload training data; every feedback is a
 * warehouse row. Feedback is given once per prediction: the upload record is claimed with
 * a generation precondition, so two concurrent submissions (even to two replicas) cannot
 * both succeed.
 */
export const feedbackRoutes: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.inference;
  const raw = ctx.lake.raw;

  app.post(
    '/feedback',
    {
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
      const updated: UploadRecord = { ...record, feedback: { feedbackId, correct, label: trueLabel, at: at.toISOString() } };
      try {
        await writeJson(raw, rawKeys.upload(predictionId), updated, { ifGenerationMatch: generation });
      } catch (err) {
        if (err instanceof PreconditionFailedError) {
          return sendError(reply, 409, 'feedback_exists', `feedback for prediction ${predictionId} was recorded concurrently`);
        }
        throw err;
      }
      let labelled = false;
      if (trueLabel) {
        labelled = await writeLabelOnce(raw, {
          id: predictionId,
          imageKey: record.imageKey,
          label: trueLabel,
          source: 'upload',
          labelledAt: at.toISOString(),
          sha256: record.sha256,
          predictionId,
          predictedLabel: predicted,
          correct,
        });
      }
      ctx.sink.add('feedback', [
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
      });
    },
  );
};
