import pino from 'pino';

/** Structured JSON logs (pino); one logger per workload, named by its `component` field. */
export function createLogger(component: string, level: string = process.env.CV_LOG_LEVEL ?? 'info'): pino.Logger {
  return pino({ level, base: { component } });
}
export type Logger = pino.Logger;
