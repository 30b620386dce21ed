import { availableParallelism } from 'node:os';
import { ConfigError, configToEnv, envNameOf } from '../../core/config/load';
import type { WorkloadConfig } from '../../core/config/schema';
import type { Logger } from '../../core/log';
import { CloudRunJobEngine } from './cloud-run-job-engine';
import { LocalTaskEngine } from './local-task-engine';
import type { TaskEngine } from './task-engine';

export const ENGINES = ['in-process', 'local-tasks', 'cloud-run-job'] as const;

export interface OpenedEngine {
  /** Undefined for `in-process`: the whole run stays in this process (runPreprocessing). */
  engine?: TaskEngine;
  taskCount: number;
}

/**
 * The engine `preprocessing.engine` names, with its task count, or a {@link ConfigError}
 * naming the keys (and their CV_* variables) that are missing for it.
 */
export function openTaskEngine(
  config: WorkloadConfig,
  options: { log?: Logger; forwardOutput?: boolean; env?: NodeJS.ProcessEnv } = {},
): OpenedEngine {
  const p = config.preprocessing;
  const key = (...path: string[]) => `preprocessing.${path.join('.')} (env ${envNameOf(['preprocessing', ...path])})`;
  switch (p.engine) {
    case 'in-process':
      return { taskCount: 1 };
    case 'local-tasks': {
      const cores = availableParallelism();
      return {
        // Every task gets this process's configuration, so it reads the same plan from the same lake.
        engine: new LocalTaskEngine({
          env: { ...(options.env ?? process.env), ...configToEnv(config) },
          forwardOutput: options.forwardOutput,
        }),
        taskCount: p.tasks || cores,
      };
    }
    case 'cloud-run-job': {
      const job = p.cloudRunJob;
      const problems = (['project', 'region', 'name'] as const)
        .filter((k) => !job[k])
        .map((k) => `config key ${key('cloudRunJob', k)} must be set when preprocessing.engine is "cloud-run-job"`);
      if (p.tasks < 1)
        problems.push(
          `config key ${key('tasks')} = ${p.tasks}: must be ≥ 1 when preprocessing.engine is "cloud-run-job" ` +
            '(0 means one task per core of this machine, which says nothing about a Cloud Run job; the stack sets it)',
        );
      if (problems.length) throw new ConfigError(problems);
      return {
        engine: new CloudRunJobEngine({
          job: { project: job.project, region: job.region, name: job.name },
          apiEndpoint: job.apiEndpoint,
          pollSeconds: job.pollSeconds,
          log: options.log,
        }),
        taskCount: p.tasks,
      };
    }
  }
}
