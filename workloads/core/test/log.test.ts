import Fastify, { type FastifyBaseLogger } from 'fastify';
import { Writable } from 'node:stream';
import { loadConfig } from '../config/load';
import { createLogger, logFormatFor, traceOf, traceRequests } from '../log';

/** A destination that keeps every JSON line. */
function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const CLOUD_RUN = { K_SERVICE: 'cv-dev-inference', K_REVISION: 'cv-dev-inference-00003-abc', GOOGLE_CLOUD_PROJECT: 'proj-1' };
const TRACE = '105445aa7843bc8bf206b12000100000';

describe('logging', () => {
  test('Cloud Logging format on Cloud Run, Cloud Run jobs and Vertex AI steps; plain pino elsewhere, unless CV_LOG_FORMAT says', () => {
    expect(logFormatFor({})).toBe('plain');
    expect(logFormatFor({ K_SERVICE: 's' })).toBe('gcp');
    expect(logFormatFor({ CLOUD_RUN_JOB: 'cv-dev-preprocess' })).toBe('gcp');
    expect(logFormatFor({ CLOUD_ML_JOB_ID: '123' })).toBe('gcp');
    expect(logFormatFor({ K_SERVICE: 's', CV_LOG_FORMAT: 'plain' })).toBe('plain');
    expect(logFormatFor({ CV_LOG_FORMAT: 'gcp' })).toBe('gcp');
    // The variable is part of the validated workload config.
    expect(loadConfig({ env: { CV_LOG_FORMAT: 'gcp' } }).logFormat).toBe('gcp');
    expect(() => loadConfig({ env: { CV_LOG_FORMAT: 'json' } })).toThrow(/logFormat/);
  });

  test('on Google Cloud every line has a severity, a message, the service and revision; errors carry their stack', () => {
    const out = capture();
    const log = createLogger('inference', 'debug', { env: CLOUD_RUN, destination: out.stream });
    log.debug('d');
    log.info({ event: 'listening' }, 'up');
    log.warn('w');
    log.error({ err: new Error('boom') }, 'failed');
    log.fatal('f');
    const lines = out.lines();
    expect(lines.map((l) => [l.severity, l.message])).toEqual([
      ['DEBUG', 'd'],
      ['INFO', 'up'],
      ['WARNING', 'w'],
      ['ERROR', 'failed'],
      ['CRITICAL', 'f'],
    ]);
    expect(lines[1]).toMatchObject({
      component: 'inference',
      event: 'listening',
      serviceContext: { service: 'cv-dev-inference', version: 'cv-dev-inference-00003-abc' },
      timestamp: { seconds: expect.any(Number), nanos: expect.any(Number) },
    });
    expect(lines[1].msg).toBeUndefined();
    expect(lines[3].stack_trace).toMatch(/^Error: boom\n\s+at /);
  });

  test('plain pino locally: no Cloud Logging fields', () => {
    const out = capture();
    createLogger('trigger', 'info', { env: {}, destination: out.stream }).warn('w');
    const [line] = out.lines();
    expect(line).toMatchObject({ level: 40, msg: 'w', component: 'trigger' });
    expect(line.severity).toBeUndefined();
  });

  test('the trace of a request from X-Cloud-Trace-Context (decimal span id) or traceparent', () => {
    expect(traceOf({ 'x-cloud-trace-context': `${TRACE}/1;o=1` })).toEqual({
      trace_id: TRACE,
      span_id: '0000000000000001',
      trace_flags: '01',
    });
    expect(traceOf({ 'x-cloud-trace-context': `${TRACE}/18446744073709551615;o=0` })).toEqual({
      trace_id: TRACE,
      span_id: 'ffffffffffffffff',
      trace_flags: '00',
    });
    expect(traceOf({ 'x-cloud-trace-context': TRACE })).toEqual({ trace_id: TRACE });
    expect(traceOf({ traceparent: `00-${TRACE}-00f067aa0ba902b7-01` })).toEqual({
      trace_id: TRACE,
      span_id: '00f067aa0ba902b7',
      trace_flags: '01',
    });
    for (const bad of ['', 'abc/1', `${TRACE}/x;o=1`, `${TRACE}/18446744073709551616`])
      expect(traceOf({ 'x-cloud-trace-context': bad })?.span_id).toBeUndefined();
    expect(traceOf({ 'x-cloud-trace-context': 'not-a-trace' })).toBeUndefined();
    expect(traceOf({ traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` })).toBeUndefined();
  });

  test('a request handled on Cloud Run logs its lines under its trace, so Cloud Logging groups them', async () => {
    const out = capture();
    const logger = createLogger('inference', 'info', { env: CLOUD_RUN, destination: out.stream });
    const app = Fastify({ loggerInstance: logger as FastifyBaseLogger, disableRequestLogging: true });
    traceRequests(app);
    app.get('/predict', async (req) => {
      req.log.info({ event: 'prediction' }, 'predicted');
      // Any logger of the process, after an await, still within the request.
      await new Promise((r) => setTimeout(r, 5));
      logger.info({ event: 'prediction_logged' }, 'row queued');
      return { ok: true };
    });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    await fetch(`${url}/predict`, { headers: { 'x-cloud-trace-context': `${TRACE}/74;o=1` } });
    await fetch(`${url}/predict`);
    await app.close();
    const [traced, untraced] = out.lines().filter((l) => l.event === 'prediction');
    const [tracedToo, untracedToo] = out.lines().filter((l) => l.event === 'prediction_logged');
    expect(tracedToo['logging.googleapis.com/trace']).toBe(`projects/proj-1/traces/${TRACE}`);
    expect(untracedToo['logging.googleapis.com/trace']).toBeUndefined();
    expect(traced).toMatchObject({
      severity: 'INFO',
      'logging.googleapis.com/trace': `projects/proj-1/traces/${TRACE}`,
      'logging.googleapis.com/spanId': '000000000000004a',
      'logging.googleapis.com/trace_sampled': true,
    });
    expect(untraced['logging.googleapis.com/trace']).toBeUndefined();
  });
});
