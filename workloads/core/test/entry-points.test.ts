import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fromImage, fromSource } from '../../../pipeline-specs/runner';
import {
  COMPILED_DIR,
  compiledFile,
  containerArgv,
  containerCommand,
  ENTRY_POINTS,
  IMAGE_USER,
  sourceOfContainerCommand,
} from '../entry-points';
import { entryPointOf, PIPELINE_STEPS } from '../pipeline-steps';

const REPO = path.resolve(__dirname, '../../..');

describe('entry points', () => {
  test('every entry point is a TypeScript file of the repository, and its container runs the compiled file', () => {
    for (const [name, entry] of Object.entries(ENTRY_POINTS)) {
      expect([name, existsSync(path.join(REPO, entry.source))]).toEqual([name, true]);
      expect(containerCommand(entry)).toEqual(['node', `${COMPILED_DIR}/${entry.source.replace(/\.ts$/, '.js')}`]);
      expect(containerArgv(entry)).toEqual([...containerCommand(entry), ...entry.args]);
    }
    expect(compiledFile('workloads/trigger/cli.ts')).toBe('dist/workloads/trigger/cli.js');
    expect(() => compiledFile('workloads/inference/static/app.js')).toThrow(/not a \.ts file/);
  });

  test('a container command maps back to its source, and anything else is refused naming the known commands', () => {
    expect(sourceOfContainerCommand(['node', 'dist/workloads/evaluation/cli.js'])).toBe('workloads/evaluation/cli.ts');
    expect(() => sourceOfContainerCommand(['node', '--import', 'tsx', 'workloads/evaluation/cli.ts'])).toThrow(
      /is not a workload entry point's container command; known: node dist\/workloads\/inference\/main\.js \| /,
    );
    expect(() => sourceOfContainerCommand(['python', 'dist/workloads/evaluation/cli.js'])).toThrow(/not a workload entry point/);
  });

  test('every pipeline step runs a registered entry point', () => {
    for (const step of Object.values(PIPELINE_STEPS)) expect(Object.values(ENTRY_POINTS)).toContain(entryPointOf(step));
  });

  test('the local runner starts a step from its source through tsx by absolute paths, or as the image does', () => {
    const fromSrc = fromSource('/repo')(['node', 'dist/workloads/trigger/cli.js'], ['check', '--run-id', 'r']);
    expect(fromSrc.command).toBe(process.execPath);
    expect(fromSrc.args).toEqual([
      '--import',
      expect.stringMatching(/^file:\/\/.*\/tsx\//),
      '/repo/workloads/trigger/cli.ts',
      'check',
      '--run-id',
      'r',
    ]);
    expect(fromSrc.cwd).toBeUndefined();
    expect(fromImage('/app')(['node', 'dist/workloads/trigger/cli.js'], ['check'])).toEqual({
      command: process.execPath,
      args: ['dist/workloads/trigger/cli.js', 'check'],
      cwd: '/app',
      user: { uid: IMAGE_USER.uid, gid: IMAGE_USER.gid },
    });
  });

  test('the npm scripts that start a workload start a registered source', () => {
    const scripts = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const sources = new Set<string>(Object.values(ENTRY_POINTS).map((e) => e.source));
    for (const name of ['serve', 'trigger', 'preprocess', 'train', 'evaluate', 'promote', 'rollback', 'registry']) {
      const file = /^tsx (\S+)/.exec(scripts[name])?.[1];
      expect([name, file && sources.has(file)]).toEqual([name, true]);
    }
  });
});
