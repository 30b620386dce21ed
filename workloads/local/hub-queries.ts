import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import type { WorkloadConfig } from '../core/config/schema';
import type { NamedQueries } from '../core/warehouse/http-warehouse';
import { ALERT_RULES, resolveThresholds } from '../monitoring/alerts';
import { dialects } from '../monitoring/dialect';
import { PANELS, panelSql } from '../monitoring/panels';

/**
 * The statements the hub runs for the other local processes (and nothing else), named
 * after where they are written, so the list never needs to be kept by hand:
 *  - every SQL literal passed to `<warehouse>.query(...)` in the workloads' sources
 *    (tests excluded), named `<file>#<function>`: `trigger/signals.ts#baselineAccuracy`;
 *  - the monitoring panels and alert rules in DuckDB's dialect (their SQL is generated),
 *    named `panel:<id>` and `alert:<id>`, with this run's alert thresholds.
 * A query built at run time from pieces is not a named query and the hub refuses it:
 * write it as one literal (parameters as `@name`).
 */
export function hubQueries(config: Pick<WorkloadConfig, 'monitoring'>, workloadsDir = path.resolve(__dirname, '..')): NamedQueries {
  const queries: Record<string, string> = {};
  for (const file of sourceFiles(workloadsDir)) {
    const rel = path.relative(workloadsDir, file).split(path.sep).join('/');
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (
        ts.isCallExpression(node) &&
        ts.isPropertyAccessExpression(node.expression) &&
        node.expression.name.text === 'query' &&
        node.arguments.length > 0 &&
        ts.isStringLiteralLike(node.arguments[0])
      ) {
        const name = `${rel}#${enclosingName(node)}`;
        const sql = node.arguments[0].text.trim();
        queries[queries[name] === undefined || queries[name] === sql ? name : `${name}@${node.getStart()}`] = sql;
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  for (const p of PANELS) queries[`panel:${p.id}`] = panelSql(p, 'duckdb').trim();
  const thresholds = resolveThresholds(config.monitoring.alerts);
  for (const rule of ALERT_RULES)
    if (rule.local.source === 'warehouse') queries[`alert:${rule.id}`] = rule.local.sql(dialects.duckdb, thresholds).trim();
  return queries;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'test' || e.name === 'node_modules' ? [] : sourceFiles(full);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !e.name.endsWith('.test.ts') ? [full] : [];
  });
}

/** The function, method or variable a call is written in (`module` at the top level). */
function enclosingName(node: ts.Node): string {
  for (let n: ts.Node | undefined = node.parent; n; n = n.parent) {
    if ((ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n)) && n.name) return n.name.getText();
    if ((ts.isArrowFunction(n) || ts.isFunctionExpression(n)) && ts.isVariableDeclaration(n.parent)) return n.parent.name.getText();
  }
  return 'module';
}
