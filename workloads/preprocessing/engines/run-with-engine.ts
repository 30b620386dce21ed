import type { PreprocessDeps, PreprocessOptions, PreprocessSummary } from '../run';
import { stagingKeys } from '../../core/layout';
import { stageCommit, stagePlan } from '../staged';
import type { TaskEngine, TaskRunReport } from './task-engine';

/**
 * A whole preprocessing run with the transform scaled out: plan here → N transform tasks on
 * the engine → commit here. Same inputs and outputs as {@link runPreprocessing} (the
 * pipeline step cannot tell which engine ran), and the same guarantee: the manifest is
 * written by commit only after every task succeeded, so a failed task leaves no version.
 * On any failure after planning, the version's staging objects are deleted (best effort):
 * version names are never reused, so they would only be litter.
 */
export async function runWithEngine(
  deps: PreprocessDeps,
  options: PreprocessOptions,
  engine: TaskEngine,
  taskCount: number,
): Promise<{ summary: PreprocessSummary; report: TaskRunReport }> {
  const started = Date.now();
  const plan = await stagePlan(deps, options);
  deps.log?.info(
    { event: 'planned', version: plan.version, items: plan.items.length, engine: engine.name, tasks: taskCount },
    `planned dataset version ${plan.version}: ${plan.items.length} images over ${taskCount} ${engine.name} task(s)`,
  );
  try {
    const report = await engine.runTransform({
      version: plan.version,
      taskCount,
      onTaskDone: (done, total) => options.onProgress?.({ phase: 'transform', done, total }),
    });
    deps.log?.info({ event: 'tasks_done', ...report }, `${taskCount} transform task(s) done in ${report.seconds.toFixed(1)} s`);
    const summary = await stageCommit(deps, plan.version, taskCount, options);
    // stageCommit reports the slowest task's own transform time; what the run paid is the
    // engine's wall time (process or container start-up included), so report that.
    const seconds = Math.max(report.seconds, 1e-9);
    return {
      summary: {
        ...summary,
        transformSeconds: report.seconds,
        imagesPerSecond: summary.imagesRead / seconds,
        totalSeconds: (Date.now() - started) / 1000,
      },
      report,
    };
  } catch (err) {
    await discardStaging(deps, plan.version);
    throw err;
  }
}

async function discardStaging(deps: PreprocessDeps, version: string): Promise<void> {
  try {
    for (const o of await deps.datasets.list(stagingKeys.prefix(version))) await deps.datasets.delete(o.key);
  } catch (err) {
    deps.log?.warn({ version, err: (err as Error).message }, 'could not delete the staging objects of a failed run');
  }
}
