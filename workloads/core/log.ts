import { AsyncLocalStorage } from 'node:async_hooks';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import pino from 'pino';

/**
 * Structured JSON logs (pino); one logger per workload, named by its `component` field.
 *
 * On Google Cloud (a Cloud Run service or job, or a Vertex AI pipeline step) each line is
 * in Cloud Logging's structured format, by Google's own pino configuration
 * (@google-cloud/pino-logging-gcp-config): pino levels become `severity`, `msg` becomes
 * `message`, errors carry `stack_trace` for Error Reporting, and a request's trace (see
 * {@link traceRequests}) becomes `logging.googleapis.com/trace`/`spanId`, so Cloud
 * Logging groups a request's lines and links them to Cloud Trace. Elsewhere: plain pino.
 */
export type Logger = pino.Logger;
export type LogFormat = 'gcp' | 'plain';

/**
 * The format for this environment. `CV_LOG_FORMAT` (config `logFormat`: gcp | plain)
 * decides when set; otherwise (`auto`) Google Cloud is recognised by what its runtimes set: K_SERVICE (Cloud Run
 * services), CLOUD_RUN_JOB (Cloud Run jobs), CLOUD_ML_JOB_ID / CLOUD_ML_PROJECT_ID (Vertex AI
 * custom jobs, which run the pipeline's steps).
 */
export function logFormatFor(env: NodeJS.ProcessEnv = process.env): LogFormat {
  if (env.CV_LOG_FORMAT === 'gcp' || env.CV_LOG_FORMAT === 'plain') return env.CV_LOG_FORMAT;
  return env.K_SERVICE || env.CLOUD_RUN_JOB || env.CLOUD_ML_JOB_ID || env.CLOUD_ML_PROJECT_ID ? 'gcp' : 'plain';
}

export interface LoggerOptions {
  format?: LogFormat;
  /** Where the runtime's variables are read from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Default stdout. */
  destination?: pino.DestinationStream;
}

export function createLogger(component: string, level: string = process.env.CV_LOG_LEVEL ?? 'info', options: LoggerOptions = {}): Logger {
  const env = options.env ?? process.env;
  const format = options.format ?? logFormatFor(env);
  const base = { level, base: { component } };
  if (format === 'plain') return options.destination ? pino(base, options.destination) : pino(base);
  // Loaded only on Google Cloud: it brings @google-cloud/logging, which plain runs do not need.
  const { createGcpLoggingPinoConfig } =
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('@google-cloud/pino-logging-gcp-config') as typeof import('@google-cloud/pino-logging-gcp-config');
  const gcp = createGcpLoggingPinoConfig(
    {
      // Error Reporting groups by service and version: the Cloud Run service and revision, or job and execution.
      serviceContext: {
        service: env.K_SERVICE || env.CLOUD_RUN_JOB || `creature-vision-${component}`,
        ...(env.K_REVISION || env.CLOUD_RUN_EXECUTION ? { version: env.K_REVISION || env.CLOUD_RUN_EXECUTION } : {}),
      },
      // Unset: the library asks the metadata server, as the trace field needs `projects/<id>/traces/…`.
      traceGoogleCloudProjectId: env.GOOGLE_CLOUD_PROJECT || env.CLOUD_ML_PROJECT_ID || undefined,
      inihibitDiagnosticMessage: true,
    },
    // The library turns trace_id/span_id/trace_flags in a line into Cloud Logging's trace fields.
    { ...base, mixin: () => requestTrace.getStore() ?? {} },
  );
  return options.destination ? pino(gcp, options.destination) : pino(gcp);
}

/** A request's trace as the OpenTelemetry-style fields the Cloud Logging format maps (`trace_id`, `span_id`, `trace_flags`). */
export interface TraceFields {
  trace_id: string;
  span_id?: string;
  trace_flags?: string;
}

/**
 * The trace of a request, from `X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=OPTIONS` (what
 * Cloud Run's front end sets; SPAN_ID is decimal there and hexadecimal in Cloud Logging),
 * else from W3C `traceparent: 00-TRACE_ID-SPAN_ID-FLAGS`. Malformed headers give nothing.
 */
export function traceOf(headers: IncomingMessage['headers']): TraceFields | undefined {
  const cloud = headers['x-cloud-trace-context'];
  const m = typeof cloud === 'string' ? /^([0-9a-f]{32})(?:\/(\d{1,20}))?(?:;o=([01]))?$/i.exec(cloud.trim()) : null;
  if (m) {
    const span =
      m[2] !== undefined && BigInt(m[2]) > 0n && BigInt(m[2]) < 2n ** 64n ? BigInt(m[2]).toString(16).padStart(16, '0') : undefined;
    return { trace_id: m[1].toLowerCase(), ...(span ? { span_id: span } : {}), ...(m[3] ? { trace_flags: `0${m[3]}` } : {}) };
  }
  const parent = headers.traceparent;
  const w = typeof parent === 'string' ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(parent.trim()) : null;
  if (w && !/^0+$/.test(w[1]) && !/^0+$/.test(w[2])) return { trace_id: w[1], span_id: w[2], trace_flags: w[3] };
  return undefined;
}

/** The trace of the request being handled, for every log line written while handling it. */
const requestTrace = new AsyncLocalStorage<TraceFields>();

/**
 * Makes every log line written while a request is handled (by `req.log` or any logger of
 * this process) carry the request's trace, so Cloud Logging groups them under the request.
 * The same pattern as @fastify/request-context: the rest of the request runs inside
 * `AsyncLocalStorage.run`, and the logger's mixin reads it.
 */
export function traceRequests(app: FastifyInstance): void {
  app.addHook('onRequest', (req, _reply, done) => {
    const trace = traceOf(req.headers);
    if (trace) requestTrace.run(trace, done);
    else done();
  });
}
