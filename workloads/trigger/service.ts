import { randomUUID } from 'node:crypto';
import type { Logger } from '../core/log';
import type { Warehouse } from '../core/warehouse/warehouse';
import { newRunId } from '../../pipeline-specs/runner/run-pipeline';
import { checkTrigger, CheckResult } from './check';
import type { TriggerThresholds } from './decide';
import type { IntakeSettings } from '../preprocessing/intake';
import type { TriggerLake } from './signals';
import type { PipelineSubmitter, Submission } from './submitter';

/**
 * The retraining trigger as a service: check, and when the decision fires, start a run.
 * One check at a time (overlapping scheduler calls queue), and never a second run while
 * one is in progress. Used by the HTTP server (Cloud Scheduler → POST /check) and directly
 * by `npm start` on its in-process timer.
 */
export interface TriggerOutcome {
  decision: CheckResult;
  /** Set when the decision fired. */
  runId?: string;
  submission?: Submission;
  /** The decision fired but the run could not be submitted. */
  submitError?: string;
}

export interface TriggerServiceDeps {
  lake: TriggerLake;
  warehouse: Warehouse;
  thresholds: TriggerThresholds;
  /** What counts as new trusted data (preprocessing's rules); default: the configured defaults. */
  intake?: IntakeSettings;
  submitter: PipelineSubmitter;
  logger?: Logger;
  newRunId?: () => string;
}

export class TriggerService {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: TriggerServiceDeps) {}

  check(options: { force?: boolean; now?: Date } = {}): Promise<TriggerOutcome> {
    const next = this.queue.then(() => this.checkNow(options));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async checkNow(options: { force?: boolean; now?: Date }): Promise<TriggerOutcome> {
    const { deps } = this;
    const runId = (deps.newRunId ?? newRunId)();
    const decision = await checkTrigger({
      lake: deps.lake,
      warehouse: deps.warehouse,
      thresholds: deps.thresholds,
      intake: deps.intake,
      runId,
      force: options.force,
      now: options.now,
      veto: async () => {
        const active = await deps.submitter.activeRun();
        return active ? `run ${active} is still in progress` : undefined;
      },
    });
    deps.logger?.info(
      { event: 'trigger_decision', fired: decision.fire, condition: decision.condition, decision_id: decision.decisionId },
      decision.reason,
    );
    if (!decision.fire) return { decision };
    try {
      // The run reuses this decision (by run id) in its check-trigger step; force stays false.
      const submission = await deps.submitter.submit({ runId, parameters: { force: false } });
      deps.logger?.info(
        { event: 'pipeline_submitted', run_id: runId, backend: submission.backend, name: submission.name },
        `started pipeline run ${runId}`,
      );
      return { decision, runId, submission };
    } catch (err) {
      const message = (err as Error).message;
      deps.logger?.error({ event: 'pipeline_submit_failed', run_id: runId, err }, `could not start pipeline run ${runId}: ${message}`);
      // Keep the log honest: the fired decision above did not start a run.
      await deps.warehouse
        .insert('trigger_decisions', [
          {
            ts: new Date(),
            decision_id: randomUUID(),
            fired: false,
            reason: `submission of run ${runId} failed: ${message}`.slice(0, 2000),
            new_labelled: decision.inputs.newLabelled,
            recent_predictions: decision.inputs.recentPredictions,
            recent_accuracy: decision.inputs.recentAccuracy,
            baseline_accuracy: decision.inputs.baselineAccuracy,
            hours_since_last: decision.inputs.hoursSinceLast,
            inputs: JSON.stringify({ ...decision.inputs, failedDecisionId: decision.decisionId }),
            pipeline_run_id: runId,
          },
        ])
        .catch((e: Error) => deps.logger?.error({ err: e }, 'could not log the failed submission'));
      return { decision, runId, submitError: message };
    }
  }
}
