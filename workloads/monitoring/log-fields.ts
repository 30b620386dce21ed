/**
 * The structured-log fields the alerts rely on, defined once. In the cloud, log-based
 * metrics (Cloud Logging → Cloud Monitoring) count and measure these JSON fields in the
 * services' stdout (pino → `jsonPayload`); locally, {@link RequestLog} reads the same lines.
 *
 * Producers:
 *  - `request`: fastify's own "request completed" line (`logger: true`), no extra code.
 *  - `prediction`: one line per prediction event the inference service writes to the
 *    warehouse, e.g. `{"event":"prediction","source":"dogapi","role":"champion",
 *    "correct":true,"latency_ms":31.2,"model_version":"v20261123T160912Z-ab12"}`.
 *  - `pipelineStep`: a pipeline step that fails logs
 *    `{"event":"pipeline_step","status":"failed","step":"train","run_id":"…","error":"…"}`.
 */
export const LOG_FIELDS = {
  request: {
    /** fastify's message on every finished request. */
    msg: 'request completed',
    statusCode: 'res.statusCode',
    responseTimeMs: 'responseTime',
  },
  prediction: {
    event: 'prediction',
    source: 'source',
    role: 'role',
    correct: 'correct',
    latencyMs: 'latency_ms',
    modelVersion: 'model_version',
  },
  pipelineStep: {
    event: 'pipeline_step',
    status: 'status',
    step: 'step',
    runId: 'run_id',
    error: 'error',
  },
} as const;

/** Cloud Logging filter path of a JSON field (`jsonPayload.res.statusCode`). */
export const jsonPayload = (field: string): string => `jsonPayload.${field}`;
