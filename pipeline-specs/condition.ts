import type { ParameterValue } from './ir';

/**
 * The `triggerPolicy.condition` expressions this project emits, and their evaluation.
 *
 * Vertex AI evaluates conditions as CEL. The builder only emits the subset below, and the
 * local runner and the validator parse the same subset, so a condition that works locally
 * is one Vertex understands:
 *
 *   inputs.parameter_values['<name>'] <op> <literal>   (op: == != < <= > >=)
 *   joined by && or || (no parentheses; && binds tighter, as in CEL)
 *
 * Literals: 'single-quoted' or "double-quoted" strings, true, false, numbers.
 */

export type ComparisonOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

export interface Comparison {
  parameter: string;
  op: ComparisonOp;
  value: string | number | boolean;
}

/** Disjunction of conjunctions: `[[a, b], [c]]` means `a && b || c`. */
export type ConditionAst = Comparison[][];

const COMPARISON_RE =
  /^\s*inputs\.parameter_values\[(?:'([^']+)'|"([^"]+)")\]\s*(==|!=|<=|>=|<|>)\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|true|false|-?\d+(?:\.\d+)?)\s*$/;

export class ConditionSyntaxError extends Error {
  constructor(expression: string, detail: string) {
    super(
      `unsupported triggerPolicy condition ${JSON.stringify(expression)}: ${detail}; ` +
        `accepted: inputs.parameter_values['name'] (==|!=|<|<=|>|>=) ('string'|true|false|number), joined by && or ||`,
    );
    this.name = 'ConditionSyntaxError';
  }
}

export function parseCondition(expression: string): ConditionAst {
  // Split on operators outside quoted strings.
  const disjuncts: string[][] = [[]];
  let current = '';
  let quote: string | null = null;
  for (let i = 0; i < expression.length; i++) {
    const ch = expression[i];
    if (quote) {
      current += ch;
      if (ch === '\\') current += expression[++i] ?? '';
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === "'" || ch === '"') quote = ch;
    const two = expression.slice(i, i + 2);
    if (two === '&&' || two === '||') {
      disjuncts[disjuncts.length - 1].push(current);
      current = '';
      if (two === '||') disjuncts.push([]);
      i++;
      continue;
    }
    current += ch;
  }
  if (quote) throw new ConditionSyntaxError(expression, 'unterminated string');
  disjuncts[disjuncts.length - 1].push(current);
  return disjuncts.map((conj) => conj.map((part) => parseComparison(expression, part)));
}

function parseComparison(expression: string, part: string): Comparison {
  const m = COMPARISON_RE.exec(part);
  if (!m) throw new ConditionSyntaxError(expression, `cannot parse ${JSON.stringify(part.trim())}`);
  const [, single, double, op, literal] = m;
  let value: string | number | boolean;
  if (literal === 'true' || literal === 'false') value = literal === 'true';
  else if (literal.startsWith("'") || literal.startsWith('"')) value = literal.slice(1, -1).replace(/\\(.)/g, '$1');
  else value = Number(literal);
  return { parameter: single ?? double, op: op as ComparisonOp, value };
}

/** Evaluates a condition against a task's resolved input values. */
export function evaluateCondition(expression: string, values: Record<string, ParameterValue | undefined>): boolean {
  return parseCondition(expression).some((conj) =>
    conj.every((c) => {
      if (!(c.parameter in values)) {
        throw new Error(
          `condition ${JSON.stringify(expression)} reads inputs.parameter_values['${c.parameter}'], which the task does not have`,
        );
      }
      return compare(values[c.parameter], c.op, c.value);
    }),
  );
}

function compare(actual: ParameterValue | undefined, op: ComparisonOp, expected: string | number | boolean): boolean {
  switch (op) {
    case '==':
      return actual === expected;
    case '!=':
      return actual !== expected;
    default: {
      if (typeof actual !== typeof expected || (typeof actual !== 'number' && typeof actual !== 'string')) return false;
      const a = actual as number | string;
      const e = expected as number | string;
      return op === '<' ? a < e : op === '<=' ? a <= e : op === '>' ? a > e : a >= e;
    }
  }
}

/** Formats a literal the way CEL (and the KFP SDK) writes it. */
export function formatLiteral(value: string | number | boolean): string {
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return String(value);
}
