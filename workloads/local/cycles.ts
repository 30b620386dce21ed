import Table from 'cli-table3';
import type { RunResult } from '../../pipeline-specs/runner/types';
import type { Warehouse } from '../core/warehouse/warehouse';
import type { LocalLoop } from './local-loop';

/** One row of the `npm start -- --cycles N` summary. */
export interface CycleSummary {
  cycle: number;
  runId: string | null;
  status: string;
  datasetVersion: string | null;
  examples: number | null;
  challengerTop1: number | null;
  championTop1: number | null;
  decision: string;
  ingestS: number;
  stepsS: Record<string, number>;
  totalS: number;
  error?: string;
}

/**
 * Runs N full cycles as fast as the data allows: ingest in bursts until the trigger
 * fires (its usual thresholds decide, so the cycles are the loop's own), run the
 * pipeline, record what happened, repeat.
 */
export async function runCycles(
  loop: LocalLoop,
  cycles: number,
  say: (line: string) => void,
  signal: AbortSignal,
): Promise<CycleSummary[]> {
  const out: CycleSummary[] = [];
  for (let cycle = 1; cycle <= cycles && !signal.aborted; cycle++) {
    const started = Date.now();
    say(`cycle ${cycle}/${cycles}: ingesting until the trigger fires…`);
    let run: RunResult | undefined;
    let ingestS = 0;
    let stalls = 0;
    while (!signal.aborted) {
      const before = loop.ingestor.stats.ingested;
      await loop.ingestor.burst(16, 4);
      if (loop.ingestor.stats.ingested === before && ++stalls >= 5) {
        throw new Error(
          `ingestion is failing (${loop.ingestor.stats.failures} failures; last: ${loop.ingestor.stats.lastError}); see ${loop.services.logDir}`,
        );
      }
      const outcome = await loop.trigger.check();
      if (outcome.submitError) throw new Error(`the trigger fired but the run did not start: ${outcome.submitError}`);
      if (outcome.decision.fire && outcome.submission?.done) {
        ingestS = (Date.now() - started) / 1000;
        say(`cycle ${cycle}: ${outcome.decision.reason}; running pipeline ${outcome.runId}`);
        run = await outcome.submission.done;
        break;
      }
    }
    if (!run) break;
    const summary = await summarize(loop.services.warehouse, cycle, run, ingestS, (Date.now() - started) / 1000);
    out.push(summary);
    // A cycle ends when the service answers with the promoted model, so the next cycle's
    // traffic is judged by the new champion (the swap happens on the service's pointer poll).
    const promoted = run.steps.find((s) => s.task === 'promote' && s.status === 'succeeded')?.outputs.production_version;
    if (promoted !== undefined) await waitForChampion(loop, String(promoted), signal);
  }
  return out;
}

async function waitForChampion(loop: LocalLoop, version: string, signal: AbortSignal, timeoutMs = 120_000): Promise<void> {
  const statusUrl = `${loop.services.inferenceUrl}/status`;
  const deadline = Date.now() + timeoutMs;
  while (!signal.aborted && Date.now() < deadline) {
    try {
      const res = await fetch(statusUrl, { headers: loop.services.internalHeaders(), signal: AbortSignal.timeout(5000) });
      const body = (await res.json()) as { champion?: string | null };
      if (body.champion === version) return;
    } catch {
      /* not answering yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!signal.aborted)
    throw new Error(`the inference service did not start serving ${version} within ${timeoutMs / 1000} s (${statusUrl})`);
}

async function summarize(warehouse: Warehouse, cycle: number, run: RunResult, ingestS: number, totalS: number): Promise<CycleSummary> {
  const output = (task: string, key: string): string | null => {
    const v = run.steps.find((s) => s.task === task)?.outputs[key];
    return v === undefined ? null : String(v);
  };
  const datasetVersion = output('preprocess', 'dataset_version') || null;
  const modelVersion = output('train', 'model_version');
  let examples: number | null = null;
  if (datasetVersion) {
    const [row] = await warehouse.query(`SELECT num_examples FROM {{dataset_versions}} WHERE dataset_version = @v`, { v: datasetVersion });
    examples = row ? Number(row.num_examples) : null;
  }
  let challengerTop1: number | null = null;
  let championTop1: number | null = null;
  const waiting = output('preprocess', 'status') === 'waiting_for_data';
  let decision = output('evaluate', 'decision') ?? (waiting ? 'waiting for data' : run.status === 'succeeded' ? 'not triggered' : 'failed');
  if (modelVersion) {
    const [ev] = await warehouse.query(
      `SELECT event, challenger_metrics, champion_metrics FROM {{model_events}} WHERE model_version = @v AND event IN ('promotion', 'rejection') ORDER BY ts DESC LIMIT 1`,
      { v: modelVersion },
    );
    if (ev) {
      decision = String(ev.event);
      challengerTop1 = top1(ev.challenger_metrics);
      championTop1 = top1(ev.champion_metrics);
    }
  }
  return {
    cycle,
    runId: run.runId,
    status: run.status,
    datasetVersion,
    examples,
    challengerTop1,
    championTop1,
    decision,
    ingestS,
    stepsS: Object.fromEntries(run.steps.filter((s) => s.status !== 'skipped').map((s) => [s.task, s.durationS])),
    totalS,
    error: run.error,
  };
}

function top1(json: unknown): number | null {
  if (typeof json !== 'string') return null;
  try {
    const v = (JSON.parse(json) as { top1?: unknown }).top1;
    return typeof v === 'number' ? v : null;
  } catch {
    return null;
  }
}

export function formatCycleTable(rows: CycleSummary[]): string {
  const pct = (v: number | null): string => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);
  const secs = (v: number | undefined): string => (v === undefined ? '—' : `${v.toFixed(1)}`);
  const table = new Table({
    // Colour only on a terminal; logs and CI get plain text.
    style: process.stdout.isTTY ? {} : { head: [], border: [] },
    head: [
      'cycle',
      'dataset version',
      'examples',
      'challenger top-1',
      'champion top-1',
      'decision',
      'ingest s',
      'preprocess s',
      'train s',
      'evaluate s',
      'promote s',
      'total s',
    ],
  });
  for (const r of rows) {
    table.push([
      r.cycle,
      r.datasetVersion ?? '—',
      r.examples ?? '—',
      pct(r.challengerTop1),
      pct(r.championTop1),
      r.status === 'succeeded' ? r.decision : `${r.status}`,
      secs(r.ingestS),
      secs(r.stepsS.preprocess),
      secs(r.stepsS.train),
      secs(r.stepsS.evaluate),
      secs(r.stepsS.promote),
      secs(r.totalS),
    ]);
  }
  return table.toString();
}
