import { randomUUID } from 'node:crypto';
import type { Warehouse } from '../core/warehouse/warehouse';
import { decide, TriggerCondition, TriggerDecision, TriggerInputs, TriggerThresholds } from './decide';
import type { IntakeSettings } from '../preprocessing/intake';
import { gatherInputs, TriggerLake } from './signals';

/**
 * One retraining check: gather inputs, decide, and log the decision with its inputs to
 * `trigger_decisions`.
 *
 * A run has ONE decision. The trigger service decides, logs the decision with the run id
 * it is about to submit, and submits; the pipeline's first step (check-trigger) then finds
 * that decision by run id and reuses it instead of deciding again seconds later (which
 * could disagree, and would log the run twice). A pipeline started any other way (by
 * hand, by a Vertex schedule) has no decision yet, so its first step decides.
 */
export interface CheckResult extends TriggerDecision {
  decisionId: string;
  inputs: TriggerInputs;
  /** The decision was made earlier for this run (by the trigger service) and reused. */
  reused: boolean;
}

export interface CheckOptions {
  lake: TriggerLake;
  warehouse: Warehouse;
  thresholds: TriggerThresholds;
  /** What counts as new trusted data (preprocessing's rules); default: the configured defaults. */
  intake?: IntakeSettings;
  /** The pipeline run this decision starts, if it fires. */
  runId?: string;
  force?: boolean;
  now?: Date;
  /**
   * Turns a firing decision into a non-firing one before it is logged, e.g. because a run
   * is still in progress. Returns the reason, or undefined to let it fire.
   */
  veto?: () => Promise<string | undefined>;
}

export async function checkTrigger(options: CheckOptions): Promise<CheckResult> {
  if (options.runId) {
    const prior = await options.warehouse.query(
      `SELECT decision_id, reason, inputs FROM {{trigger_decisions}} WHERE pipeline_run_id = @runId AND fired ORDER BY ts DESC LIMIT 1`,
      { runId: options.runId },
    );
    if (prior.length) {
      const logged = JSON.parse(String(prior[0].inputs)) as TriggerInputs & { condition?: TriggerCondition; thresholds?: unknown };
      const { condition = 'forced', thresholds: _thresholds, ...inputs } = logged;
      return { fire: true, condition, reason: String(prior[0].reason), decisionId: String(prior[0].decision_id), inputs, reused: true };
    }
  }
  const inputs = await gatherInputs({
    lake: options.lake,
    warehouse: options.warehouse,
    thresholds: options.thresholds,
    intake: options.intake,
    force: options.force,
    now: options.now,
  });
  let decision = decide(inputs, options.thresholds);
  if (decision.fire && options.veto) {
    const veto = await options.veto();
    if (veto) decision = { fire: false, condition: 'none', reason: `${veto} (otherwise: ${decision.reason})` };
  }
  const decisionId = randomUUID();
  await options.warehouse.insert('trigger_decisions', [
    {
      ts: new Date(inputs.now),
      decision_id: decisionId,
      fired: decision.fire,
      reason: decision.reason,
      new_labelled: inputs.newLabelled,
      recent_predictions: inputs.recentPredictions,
      recent_accuracy: inputs.recentAccuracy,
      baseline_accuracy: inputs.baselineAccuracy,
      hours_since_last: inputs.hoursSinceLast,
      inputs: JSON.stringify({ ...inputs, condition: decision.condition, thresholds: options.thresholds }),
      pipeline_run_id: decision.fire ? (options.runId ?? null) : null,
    },
  ]);
  return { ...decision, decisionId, inputs, reused: false };
}
