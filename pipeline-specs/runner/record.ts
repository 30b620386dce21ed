import { pipelineKeys } from '../../workloads/core/layout';
import { writeJson, type ObjectStore } from '../../workloads/core/storage/object-store';
import type { Row } from '../../workloads/core/warehouse/tables';
import type { Warehouse } from '../../workloads/core/warehouse/warehouse';
import type { RunResult, StepResult } from './types';

/**
 * Records a run where the dashboards and people look: one `pipeline_runs` row per step as
 * it ends (so a dashboard shows progress) plus a `(run)` row, and the run record JSON and
 * each step's outputs in the pipeline bucket. Recording problems are returned as warnings:
 * losing a dashboard row must not fail a training run that otherwise succeeded.
 */
export interface RunRecorder {
  step(runId: string, step: StepResult): Promise<string[]>;
  run(result: RunResult): Promise<string[]>;
}

export function createRecorder(sinks: { warehouse?: Warehouse; store?: ObjectStore }): RunRecorder {
  const attempt = async (what: string, fn: () => Promise<unknown>): Promise<string[]> => {
    try {
      await fn();
      return [];
    } catch (err) {
      return [`could not record ${what}: ${(err as Error).message}`];
    }
  };
  return {
    async step(runId, step) {
      const warnings: string[] = [];
      if (sinks.warehouse) {
        warnings.push(
          ...(await attempt(`pipeline_runs row for ${step.task}`, () => sinks.warehouse!.insert('pipeline_runs', [stepRow(runId, step)]))),
        );
      }
      if (sinks.store && step.status === 'succeeded') {
        warnings.push(
          ...(await attempt(`outputs of ${step.task}`, () =>
            writeJson(sinks.store!, pipelineKeys.stepOutputs(runId, step.task), step.outputs),
          )),
        );
      }
      return warnings;
    },
    async run(result) {
      const warnings: string[] = [];
      if (sinks.warehouse && result.status !== 'running') {
        const row: Row<'pipeline_runs'> = {
          ts: new Date(result.finishedAt ?? Date.now()),
          run_id: result.runId,
          step: '(run)',
          status: result.status === 'succeeded' ? 'succeeded' : 'failed',
          duration_s: result.durationS,
          error: result.error ?? null,
        };
        warnings.push(...(await attempt('pipeline_runs (run) row', () => sinks.warehouse!.insert('pipeline_runs', [row]))));
      }
      if (sinks.store) {
        warnings.push(...(await attempt('run record', () => writeJson(sinks.store!, pipelineKeys.runRecord(result.runId), result))));
      }
      return warnings;
    },
  };
}

function stepRow(runId: string, step: StepResult): Row<'pipeline_runs'> {
  return {
    ts: new Date(Date.parse(step.startedAt) + step.durationS * 1000),
    run_id: runId,
    step: step.task,
    // The table knows succeeded/failed/skipped; a cancelled step did not succeed.
    status: step.status === 'cancelled' ? 'failed' : step.status,
    duration_s: step.durationS,
    error: step.status === 'cancelled' ? 'cancelled' : (step.error ?? (step.skipReason ? `skipped: ${step.skipReason}` : null)),
  };
}
