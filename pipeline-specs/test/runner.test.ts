import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IMAGE_USER } from '../../workloads/core/entry-points';
import { pipelineKeys } from '../../workloads/core/layout';
import { LocalObjectStore } from '../../workloads/core/storage/local-object-store';
import { readJson } from '../../workloads/core/storage/object-store';
import { DuckDbWarehouse } from '../../workloads/core/warehouse/duckdb-warehouse';
import { assertSucceeded, fromImage, PipelineRunError, REPO_ROOT, runPipeline, type RunEvent, type RunResult } from '../runner';
import { tinyPipeline } from './fixtures/tiny-pipeline';

/** Whether a process is gone or a zombie (its parent exited; PID 1 here may not reap it), within 3 s. */
async function stopped(pid: number): Promise<boolean> {
  for (let i = 0; i < 30; i++) {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    if (stat === undefined || / Z /.test(stat.slice(stat.lastIndexOf(')')))) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** The fixture's command (`node pipeline-specs/test/fixtures/step.js`) as is, from the repository root. */
const launch = fromImage(REPO_ROOT);

describe('local runner on a tiny pipeline', () => {
  let dir: string;
  let warehouse: DuckDbWarehouse;
  let store: LocalObjectStore;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-runner-test-'));
    warehouse = await DuckDbWarehouse.open(':memory:');
    store = new LocalObjectStore(path.join(dir, 'pipeline'));
  });
  afterAll(async () => {
    await warehouse.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const rowsOf = async (runId: string) =>
    (await warehouse.query('SELECT step, status, error FROM {{pipeline_runs}} WHERE run_id = @runId ORDER BY ts, step', { runId })).map(
      (r) => [r.step, r.status, r.error],
    );

  it('runs every step in order, passes outputs, streams prefixed logs and records the run', async () => {
    const events: RunEvent[] = [];
    const result = await runPipeline({
      spec: tinyPipeline(),
      launch,
      runId: 'run-happy',
      parameters: { word: 'hello' },
      env: { ...process.env, FIXTURE_MARK: 'from-env' },
      warehouse,
      store,
      onEvent: (e) => events.push(e),
    });
    assertSucceeded(result);
    expect(result.steps.map((s) => [s.task, s.status])).toEqual([
      ['produce', 'succeeded'],
      ['consume', 'succeeded'],
      ['finish', 'succeeded'],
    ]);
    expect(result.steps[0].outputs).toEqual({ value: 'produce(hello)', go: true });
    expect(result.steps[2].outputs).toEqual({ value: 'finish(consume(produce(hello)))' });
    expect(result.parameters).toEqual({ word: 'hello', fail_at: '', sleep_ms: '0' });
    const logs = events.filter((e): e is Extract<RunEvent, { type: 'log' }> => e.type === 'log');
    expect(logs.map((l) => `${l.task}|${l.line}`)).toContain('consume|step consume got produce(hello)');
    expect(logs.find((l) => l.stream === 'stderr')?.line).toBe('step produce env FIXTURE_MARK=from-env');

    expect(await rowsOf('run-happy')).toEqual(
      expect.arrayContaining([
        ['produce', 'succeeded', null],
        ['consume', 'succeeded', null],
        ['finish', 'succeeded', null],
        ['(run)', 'succeeded', null],
      ]),
    );
    const record = await readJson<RunResult>(store, pipelineKeys.runRecord('run-happy'));
    expect(record?.status).toBe('succeeded');
    expect(record?.steps).toHaveLength(3);
    expect(await readJson(store, pipelineKeys.stepOutputs('run-happy', 'consume'))).toEqual({ value: 'consume(produce(hello))' });
  });

  it('skips the conditional steps when the condition is false and records them as skipped', async () => {
    const result = await runPipeline({ spec: tinyPipeline(), launch, runId: 'run-skip', parameters: { word: 'skip' }, warehouse, store });
    expect(result.status).toBe('succeeded');
    expect(result.steps.map((s) => [s.task, s.status])).toEqual([
      ['produce', 'succeeded'],
      ['consume', 'skipped'],
      ['finish', 'skipped'],
    ]);
    expect(result.steps[1].skipReason).toContain("inputs.parameter_values['pipelinechannel--produce-go'] == true");
    expect(result.steps[1].skipReason).toContain('false');
    const rows = await rowsOf('run-skip');
    expect(
      rows
        .filter((r) => r[1] === 'skipped')
        .map((r) => r[0])
        .sort(),
    ).toEqual(['consume', 'finish']);
  });

  it('stops at the first failure with the failing step log tail in the error', async () => {
    const result = await runPipeline({
      spec: tinyPipeline(),
      launch,
      runId: 'run-fail',
      parameters: { word: 'x', fail_at: 'consume' },
      warehouse,
      store,
    });
    expect(result.status).toBe('failed');
    expect(result.steps.map((s) => [s.task, s.status])).toEqual([
      ['produce', 'succeeded'],
      ['consume', 'failed'],
    ]);
    expect(result.error).toContain('step consume exited with code 3');
    expect(result.error).toContain('consume problem line 3');
    expect(() => assertSucceeded(result)).toThrow(PipelineRunError);
    const rows = await rowsOf('run-fail');
    expect(rows.find((r) => r[0] === 'consume')?.[1]).toBe('failed');
    expect(rows.find((r) => r[0] === '(run)')?.[1]).toBe('failed');
    expect(rows.find((r) => r[0] === 'finish')).toBeUndefined();
  });

  it('fails a step that exits 0 without writing its outputs', async () => {
    const result = await runPipeline({
      spec: tinyPipeline({ noOutputIn: 'produce' }),
      launch,
      runId: 'run-no-output',
      parameters: { word: 'x' },
    });
    expect(result.status).toBe('failed');
    expect(result.error).toMatch(/step produce exited 0 but did not write its output (go|value)/);
  });

  it('creates no output directory: a step that writes its outputs without creating their folder fails, as on Vertex', async () => {
    const result = await runPipeline({
      spec: tinyPipeline({ noMkdirIn: 'produce' }),
      launch,
      runId: 'run-no-mkdir',
      parameters: { word: 'x' },
    });
    expect(result.status).toBe('failed');
    expect(result.error).toContain('step produce exited with code 1');
    expect(result.error).toMatch(/ENOENT: no such file or directory, open '.*\/run-no-mkdir\/produce\/(value|go)'/);
  });

  it('starts a step from sources in an empty, read-only working directory of its own', async () => {
    const script = path.join(REPO_ROOT, 'pipeline-specs/test/fixtures/step.js');
    const events: RunEvent[] = [];
    const result = await runPipeline({
      spec: tinyPipeline({ printCwdIn: 'produce' }),
      // What fromSource gives: absolute paths and no working directory of the caller's choosing.
      launch: (command, args) => ({ command: process.execPath, args: [script, ...args] }),
      runId: 'run-cwd',
      parameters: { word: 'x' },
      onEvent: (e) => events.push(e),
    });
    assertSucceeded(result);
    const line = events.flatMap((e) => (e.type === 'log' && /^cwd /.test(e.line) ? [e.line] : []))[0];
    const [, cwd, entries, mode] = /^cwd (\S+) entries (\d+) mode (\d+)$/.exec(line)!;
    expect(cwd).not.toBe(REPO_ROOT);
    expect(cwd.startsWith(os.tmpdir())).toBe(true);
    expect([entries, mode]).toEqual(['0', '555']);
  });

  describe('a step from the image runs as the image user, with what Vertex gives it and nothing more', () => {
    const root = process.getuid?.() === 0;
    let image: string;
    beforeAll(async () => {
      // A tiny image: the fixture at the path its command names, read-only like the image's
      // working directory (root-owned when the test runs as root, as in CI).
      image = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-fake-image-'));
      const script = path.join(image, 'pipeline-specs/test/fixtures/step.js');
      await fs.mkdir(path.dirname(script), { recursive: true });
      await fs.copyFile(path.join(REPO_ROOT, 'pipeline-specs/test/fixtures/step.js'), script);
      await fs.chmod(script, 0o444);
      for (let d = path.dirname(script); d.startsWith(image); d = path.dirname(d)) await fs.chmod(d, 0o555);
    });
    afterAll(async () => {
      for (let d = path.join(image, 'pipeline-specs/test/fixtures'); d.startsWith(image); d = path.dirname(d)) await fs.chmod(d, 0o755);
      await fs.rm(image, { recursive: true, force: true });
    });

    it(`runs as uid ${IMAGE_USER.uid} (as itself, with a warning, when not root), cannot write into the image, creates its output folders under the pipeline root, and has a HOME of its own`, async () => {
      const events: RunEvent[] = [];
      const result = await runPipeline({
        spec: tinyPipeline({ probeUserIn: 'produce' }),
        launch: fromImage(image),
        runId: 'run-image-user',
        parameters: { word: 'x' },
        // The caller's HOME is not the step's: Vertex sets HOME from the image's passwd.
        env: { ...process.env, HOME: '/nonexistent-caller-home' },
        onEvent: (e) => events.push(e),
      });
      // Every step created its output folder under the pipeline root (workDir) nobody made for it.
      assertSucceeded(result);
      const line = events.flatMap((e) => (e.type === 'log' && /^user /.test(e.line) ? [e.line] : []))[0];
      const [, uid, inCwd, home, inHome] = /^user (\d+) cwd (\S+) home (\S+) (\S+)$/.exec(line)!;
      expect(Number(uid)).toBe(root ? IMAGE_USER.uid : process.getuid!());
      expect(inCwd).toBe('EACCES');
      expect(await fs.readdir(image)).toEqual(['pipeline-specs']);
      expect(home).not.toBe('/nonexistent-caller-home');
      expect(inHome).toBe('written');
      const warnings = events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
      if (root) expect(warnings).toEqual([]);
      else expect(warnings).toEqual([expect.stringMatching(new RegExp(`not as uid ${IMAGE_USER.uid}.*only root`))]);
    });

    (root ? it : it.skip)('refuses a pipeline root the image user cannot reach, naming the directory in the way', async () => {
      // `dir` is mkdtemp's: 0700, root's.
      const result = await runPipeline({
        spec: tinyPipeline(),
        launch: fromImage(image),
        runId: 'run-unreachable-root',
        parameters: { word: 'x' },
        workDir: path.join(dir, 'pipeline-root'),
      });
      expect(result.status).toBe('failed');
      expect(result.error).toContain(`uid ${IMAGE_USER.uid} cannot reach the pipeline root ${path.join(dir, 'pipeline-root')}: ${dir} `);
      expect(result.steps).toEqual([]);
    });
  });

  it('cancels the running step with SIGTERM and records the run as cancelled', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const result = await runPipeline({
      spec: tinyPipeline(),
      launch,
      runId: 'run-cancel',
      parameters: { word: 'x', sleep_ms: '30000' },
      signal: controller.signal,
      warehouse,
      store,
      onEvent: (e) => {
        if (e.type === 'log' && e.task === 'consume' && e.stream === 'stdout') controller.abort();
      },
    });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(result.status).toBe('cancelled');
    expect(result.steps.map((s) => [s.task, s.status])).toEqual([
      ['produce', 'succeeded'],
      ['consume', 'cancelled'],
    ]);
    expect(result.steps[1].logTail).toContain('step consume got SIGTERM');
    // The whole process group was stopped, not just the step's own process.
    const grandchild = Number(/grandchild (\d+)/.exec(result.steps[1].logTail!.join('\n'))?.[1]);
    expect(grandchild).toBeGreaterThan(0);
    expect(await stopped(grandchild)).toBe(true);
    expect((await rowsOf('run-cancel')).find((r) => r[0] === 'consume')).toEqual(['consume', 'failed', 'cancelled']);
  });

  it('refuses missing, unknown and mistyped parameters before running anything', async () => {
    await expect(runPipeline({ spec: tinyPipeline(), launch, parameters: {} })).rejects.toThrow(
      'pipeline parameter word (STRING) is required',
    );
    await expect(runPipeline({ spec: tinyPipeline(), launch, parameters: { word: 'a', colour: 'red' } })).rejects.toThrow(
      'unknown pipeline parameter colour',
    );
    await expect(runPipeline({ spec: tinyPipeline(), launch, parameters: { word: 3 } })).rejects.toThrow(
      'pipeline parameter word: 3 is not a STRING',
    );
  });
});
