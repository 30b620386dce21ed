import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import { addLabels, tempLake } from './helpers';

/** The pipeline step's CLI, run as the pipeline runs it: a process with the CV_* environment. */
const REPO = path.resolve(__dirname, '../../..');
const cleanEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CV_'))),
  ...extra,
});

describe('trigger CLI check', () => {
  it('writes should_run and reason, logs one decision per run id, and refuses bad flags', async () => {
    const { dir, lake, cleanup } = await tempLake();
    try {
      await addLabels(lake, 5, new Date(Date.now() - 60_000));
      const env = cleanEnv({
        CV_DATA_ROOT: dir,
        CV_TRIGGER_MIN_NEW_LABELLED: '5',
        CV_PREPROCESSING_MIN_CLASS_EXAMPLES: '1',
        CV_LOG_LEVEL: 'warn',
      });
      // As on Vertex AI: the outputs' folder does not exist yet; the step creates it.
      const out = (n: string) => path.join(dir, 'run-cli', 'check-trigger', n);
      const run = (args: string[]) =>
        spawnSync(process.execPath, ['--import', 'tsx', 'workloads/trigger/cli.ts', ...args], { cwd: REPO, env, encoding: 'utf8' });
      const args = [
        'check',
        '--run-id',
        'run-cli',
        '--force',
        'false',
        '--out-should-run',
        out('should_run'),
        '--out-reason',
        out('reason'),
      ];
      const first = run(args);
      expect(first.stderr).toBe('');
      expect(first.status).toBe(0);
      expect(await fs.readFile(out('should_run'), 'utf8')).toBe('true');
      expect(await fs.readFile(out('reason'), 'utf8')).toMatch(/^first run: no dataset version yet; 5 labelled examples ≥ 5/);
      expect(run(args).status).toBe(0);

      const bad = run(['check', '--run-id', 'run-cli', '--force', 'yes']);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain('--force must be true or false, got "yes"');
      expect(run(['launch']).stderr).toContain('unknown command "launch"');

      const warehouse = await DuckDbWarehouse.open(path.join(dir, 'warehouse.duckdb'));
      try {
        expect(await warehouse.query('SELECT fired, new_labelled, pipeline_run_id FROM {{trigger_decisions}}')).toEqual([
          { fired: true, new_labelled: 5, pipeline_run_id: 'run-cli' },
        ]);
      } finally {
        await warehouse.close();
      }
    } finally {
      await cleanup();
    }
  });
});
