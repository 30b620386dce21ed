import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from './config/load';
import { flagOf, outFlagOf, type StepDefinition } from './pipeline-steps';

/**
 * What every workload command line shares: the usage error, how a main function ends
 * (exit codes), the pipeline step flags (derived from `pipeline-steps.ts`) and the one way
 * a step writes an output parameter.
 *
 * Exit codes: 0 done, 1 failed, 2 usage or configuration error (the caller must change the
 * command or the CV_* environment; retrying cannot help). A command may return another
 * code of its own (preprocessing: 3, nothing new).
 */

/** A bad command line: the message names the flag and what is accepted. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** `node:util` parseArgs, strict, with its errors as {@link UsageError}. */
export function parseFlags<T extends Options>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * The flags of a pipeline step, from its definition: `--<input>` for each input and
 * `--out-<output>` (a file path) for each output, all strings.
 */
export function stepFlags<S extends StepDefinition>(step: S): StepFlags<S> {
  const names = [...step.inputs.map(flagOf), ...step.outputs.map(outFlagOf)];
  return Object.fromEntries(names.map((f) => [f.slice(2), { type: 'string' as const }])) as StepFlags<S>;
}

/** `dataset_version` → `dataset-version`, at the type level (what {@link flagOf} does). */
type Dashed<S extends string> = S extends `${infer A}_${infer B}` ? `${A}-${Dashed<B>}` : S;
type StepFlags<S extends StepDefinition> = {
  [K in Dashed<S['inputs'][number]> | `out-${Dashed<S['outputs'][number]>}`]: { type: 'string' };
};

/**
 * Writes one output parameter (plain text, exactly `value`: the pipeline compares it
 * verbatim) to the file the pipeline named. Creates the file's directory (Vertex AI does
 * not) and replaces the file atomically, so a reader never sees half a value. No file
 * named: nothing to do (the step was run by hand).
 */
export async function writeOutput(file: string | undefined, value: string): Promise<void> {
  if (!file) return;
  const target = path.resolve(file);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  await fs.writeFile(tmp, value);
  await fs.rename(tmp, target);
}

/**
 * Runs a command's main function and exits with its code: the returned number (default 0),
 * 2 for a {@link UsageError} or a configuration error (with `usage` after a usage error),
 * 1 for anything else (the message; the stack too for unexpected errors).
 */
export function runMain(name: string, main: () => Promise<number | void>, usage = ''): void {
  main().then(
    (code) => process.exit(code ?? 0),
    (err: unknown) => {
      if (err instanceof UsageError) {
        process.stderr.write(`${name}: ${err.message}${usage ? `\n${usage}` : ''}\n`);
        process.exit(2);
      }
      if (err instanceof ConfigError) {
        process.stderr.write(`${name}: ${err.message}\n`);
        process.exit(2);
      }
      process.stderr.write(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
