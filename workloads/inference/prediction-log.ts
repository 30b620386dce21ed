import type { FastifyBaseLogger } from 'fastify';
import type { Row } from '../core/warehouse/tables';

/**
 * One structured log line per prediction event, with the fields the log-based metrics
 * read (workloads/monitoring/log-fields.ts): event, source, role, correct, latency_ms,
 * model_version. The request id comes from the request's child logger.
 */
export function logPredictions(log: FastifyBaseLogger, rows: Row<'prediction_events'>[]): void {
  for (const r of rows) {
    log.info(
      {
        event: 'prediction',
        source: r.source,
        role: r.role,
        correct: r.correct,
        latency_ms: r.latency_ms,
        model_version: r.model_version,
        prediction_id: r.prediction_id,
        predicted_label: r.predicted_label,
        true_label: r.true_label,
        confidence: r.confidence,
      },
      'prediction',
    );
  }
}
