import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

/**
 * The code examples in components/README.md compile against the real components (in the
 * spirit of cloud-foundation-fabric's tested examples): each ```ts block becomes a module
 * beside the components, with their imports and, declared, the names the block uses but
 * does not define; the TypeScript compiler checks them with the repository's settings.
 */

const COMPONENTS = path.resolve(__dirname, '..');
const README = readFileSync(path.join(COMPONENTS, 'README.md'), 'utf8');

const IMPORTS = `import * as pulumi from '@pulumi/pulumi';
import { Alerts } from './alerts';
import { ArtifactRegistry } from './artifact-registry';
import { BackboneUpload } from './backbone-upload';
import { deterministicServiceUrl, WorkloadService } from './cloud-run-service';
import { DataLake } from './data-lake';
import { GrafanaVm } from './grafana-vm';
import { WorkloadIdentities } from './identity';
import { PreprocessingJob } from './preprocessing-job';
import { ProjectApis } from './project-apis';
import { ScheduledCalls } from './scheduler';
import { VertexPipeline } from './vertex-pipeline';
import { Warehouse } from './warehouse';
import { WorkloadImage } from './workload-image';
import { backboneFiles, resolveModelsDir } from '../stacks/backbone-files';
import { loadPipelineSpec } from '../stacks/repo-artifacts';
import { containerArgv, ENTRY_POINTS } from '../workloads/core/entry-points';
import { cloudMonitoringAlerts } from '../workloads/monitoring/cloud-alerts';
import { grafanaProvisioningFiles } from '../workloads/monitoring/grafana';
`;

/** What an example may use without defining it: the context a stack program has at that point. */
const CONTEXT: Record<string, string> = {
  project: 'string',
  region: 'string',
  config: 'pulumi.Config',
  apis: 'ProjectApis',
  ids: 'WorkloadIdentities',
  lake: 'DataLake',
  registry: 'ArtifactRegistry',
  image: 'WorkloadImage',
  workloadEnv: 'pulumi.Output<Record<string, string>>',
  inference: 'WorkloadService',
};

const examples = [...README.matchAll(/```ts\n([\s\S]*?)```/g)].map((m, i) => {
  const code = m[1];
  const defined = new Set([...code.matchAll(/\b(?:const|let)\s+(\w+)/g)].map((d) => d[1]));
  const prelude = Object.entries(CONTEXT)
    .filter(([name]) => !defined.has(name))
    .map(([name, type]) => `declare const ${name}: ${type};`)
    .join('\n');
  const line = README.slice(0, m.index).split('\n').length + 1;
  return { file: path.join(COMPONENTS, `readme-example-${i + 1}.ts`), line, head: `${IMPORTS}${prelude}\n`, code };
});

function compile(): Map<string, string[]> {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.resolve(COMPONENTS, '..', 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  )!;
  const sources = new Map(examples.map((e) => [e.file, e.head + e.code]));
  const host = ts.createCompilerHost(parsed.options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => sources.has(f) || fileExists.call(host, f);
  host.readFile = (f) => sources.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, lang, ...rest) =>
    sources.has(f) ? ts.createSourceFile(f, sources.get(f)!, lang) : getSourceFile.call(host, f, lang, ...rest);
  const program = ts.createProgram([...sources.keys()], { ...parsed.options, noEmit: true }, host);
  const problems = new Map<string, string[]>();
  for (const e of examples) {
    const headLines = e.head.split('\n').length - 1;
    problems.set(
      e.file,
      ts.getPreEmitDiagnostics(program, program.getSourceFile(e.file)).map((d) => {
        const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line - headLines : -1;
        return `README.md:${e.line + at}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
      }),
    );
  }
  return problems;
}

test('every component in the README table has an example that constructs it', () => {
  const listed = [...README.matchAll(/^\| `([A-Z]\w+)`\s+\| `creature-vision:/gm)].map((m) => m[1]);
  expect(listed.length).toBeGreaterThanOrEqual(12);
  for (const name of listed) expect([name, examples.some((e) => e.code.includes(`new ${name}(`))]).toEqual([name, true]);
});

test('every example compiles against the real components', () => {
  const problems = compile();
  expect([...problems.values()].flat()).toEqual([]);
});
