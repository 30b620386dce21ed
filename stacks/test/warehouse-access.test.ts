import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { PROJECT_ROLES, WORKLOAD_IDENTITIES, WorkloadIdentity } from '../../components/identity';
import { ENTRY_POINTS } from '../../workloads/core/entry-points';
import { PIPELINE_STEPS } from '../../workloads/core/pipeline-steps';
import { TABLE_NAMES, TableName } from '../../workloads/core/warehouse/tables';
import { MockRun, runMocked } from '../mock-run';
import { REPO_ROOT } from '../repo-artifacts';
import { runsQueries, WAREHOUSE_ACCESS } from '../warehouse-access';
import { ofType } from './helpers';

/**
 * The warehouse grants follow the code: each identity's entry points are followed through
 * their imports, and every table the reachable code appends to (`insert('<table>'`,
 * `sink.add('<table>'`) or queries (`{{<table>}}`) must be granted to it, and nothing more.
 */

/** Entry points each identity runs (the preprocessing account runs only transform tasks: see WAREHOUSE_ACCESS). */
const SOURCES: Partial<Record<WorkloadIdentity, string[]>> = {
  inference: [ENTRY_POINTS.inferenceService.source],
  trigger: [ENTRY_POINTS.triggerService.source],
  pipeline: [...new Set(Object.values(PIPELINE_STEPS).map((s) => ENTRY_POINTS[s.entryPoint].source))],
};

/**
 * Code only the local runner runs: on Google Cloud the stack sets `pipeline.runner = vertex`,
 * so the trigger submits to Vertex AI and never records `pipeline_runs` rows itself.
 */
const LOCAL_ONLY = [path.join(REPO_ROOT, 'pipeline-specs', 'runner') + path.sep];

function resolveImport(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined; // packages
  const base = path.resolve(path.dirname(from), spec);
  return [`${base}.ts`, path.join(base, 'index.ts'), base].find((f) => f.endsWith('.ts') && existsSync(f));
}

/** Every repository source file reachable from `entries` through static and dynamic imports. */
function reachable(entries: string[]): string[] {
  const seen = new Set<string>();
  const todo = entries.map((e) => path.join(REPO_ROOT, e));
  while (todo.length) {
    const file = todo.pop()!;
    if (seen.has(file) || LOCAL_ONLY.some((dir) => file.startsWith(dir))) continue;
    seen.add(file);
    for (const f of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      const next = resolveImport(file, f.fileName);
      if (next) todo.push(next);
    }
  }
  return [...seen];
}

function tablesUsed(files: string[]): { writes: Set<TableName>; reads: Set<TableName> } {
  const writes = new Set<TableName>();
  const reads = new Set<TableName>();
  const isTable = (t: string): t is TableName => (TABLE_NAMES as string[]).includes(t);
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\b(?:insert|add)\(\s*'([a-z_]+)'/g)) if (isTable(m[1])) writes.add(m[1]);
    for (const m of text.matchAll(/\{\{\s*([a-z_]+)\s*\}\}/g)) if (isTable(m[1])) reads.add(m[1]);
  }
  return { writes, reads };
}

describe('warehouse access follows the code each identity runs', () => {
  test.each(Object.keys(SOURCES) as WorkloadIdentity[])('%s', (who) => {
    const used = tablesUsed(reachable(SOURCES[who]!));
    const declared = WAREHOUSE_ACCESS[who];
    expect({ writes: [...used.writes].sort(), reads: [...used.reads].sort() }).toEqual({
      writes: [...declared.writes].sort(),
      reads: [...declared.reads].sort(),
    });
  });

  test('only identities that run queries can create BigQuery jobs', () => {
    for (const who of WORKLOAD_IDENTITIES) {
      expect([who, PROJECT_ROLES[who].includes('roles/bigquery.jobUser')]).toEqual([who, runsQueries(WAREHOUSE_ACCESS[who])]);
    }
  });
});

describe('the dev stack grants BigQuery access table by table', () => {
  let run: MockRun;
  beforeAll(async () => {
    run = await runMocked({ stack: 'dev' });
  });
  const who = (member: unknown) => String(member).replace(/^serviceAccount:cv-dev-|@.*$/g, '');

  test('writers edit the tables they append to, readers view the others they query; no one edits the whole dataset', () => {
    const tableGrants = ofType(run, 'gcp:bigquery/iamMember:IamMember').map(
      (r) => `${r.inputs.tableId} ${r.inputs.role} ${who(r.inputs.member)}`,
    );
    const expected = WORKLOAD_IDENTITIES.flatMap((w) => {
      const a = WAREHOUSE_ACCESS[w];
      if (a.readsAll) return [];
      return [
        ...a.writes.map((t) => `${t} roles/bigquery.dataEditor ${w}`),
        ...a.reads.filter((t) => !a.writes.includes(t)).map((t) => `${t} roles/bigquery.dataViewer ${w}`),
      ];
    });
    expect(tableGrants.sort()).toEqual(expected.sort());
    expect(tableGrants).toContain('prediction_events roles/bigquery.dataEditor inference');
    expect(tableGrants.filter((g) => g.endsWith(' preprocessing'))).toEqual([]);
    const datasetGrants = ofType(run, 'gcp:bigquery/datasetIamMember:DatasetIamMember').map(
      (r) => `${r.inputs.role} ${who(r.inputs.member)}`,
    );
    expect(datasetGrants).toEqual(['roles/bigquery.dataViewer grafana']);
  });
});
