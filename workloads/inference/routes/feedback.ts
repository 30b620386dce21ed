import type { FastifyError, FastifyInstance } from 'fastify';
import type { RawLabel } from '../../core/dataset/raw-label';
import { rawKeys } from '../../core/layout';
import { PreconditionFailedError, readJson, writeJson } from '../../core/storage/object-store';
import type { RouteOptions } from '../app';
import { sendError } from '../http-errors';
import { newId, readUpload, UploadRecord, writeLabelOnce } from '../records';
import { knownLabels } from './labels';

interface FeedbackBody {
  predictionId: string;
  correct: boolean;
  label?: string;
}

/**
 * POST /feedback {predictionId, correct, label?}: a person says whether an upload's
 * prediction was right. A confirmed prediction, or a correction from the known labels,
 * writes the label object that makes the upload training data; every feedback is a
 * warehouse row. Feedback is given once per prediction: the upload record is claimed with
 * a generation precondition, so two concurrent submissions (even to two replicas) cannot
 * both succeed.
 */
export async function feedbackRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const raw = ctx.lake.raw;

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      return sendError(
        reply,
        400,
        'malformed_json',
        `the body is not valid JSON: send {"predictionId": "...", "correct": true|false, "label": "..."}`,
      );
    }
    if (err.validation) {
      return sendError(
        reply,
        400,
        'invalid_body',
        `invalid feedback: ${err.message}; expected {"predictionId": string, "correct": boolean, "label"?: string}`,
      );
    }
    if ((err.statusCode ?? 500) < 500) return sendError(reply, err.statusCode ?? 400, err.code ?? 'bad_request', err.message);
    req.log.error({ err }, 'feedback failed');
    return sendError(reply, 500, 'internal', `feedback failed: ${err.message}`);
  });

  app.post<{ Body: FeedbackBody }>(
    '/feedback',
    {
      schema: {
        body: {
          type: 'object',
          required: ['predictionId', 'correct'],
          additionalProperties: false,
          properties: {
            predictionId: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' },
            correct: { type: 'boolean' },
            label: { type: 'string', minLength: 1, maxLength: 100 },
          },
        },
      },
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
}
