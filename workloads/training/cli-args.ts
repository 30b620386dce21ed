import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parseArgs, ParseArgsConfig } from 'node:util';

/**
 * Flag parsing shared by the training and evaluation entry points (pipeline-steps.ts
 * conventions: `--run-id X`, outputs to the files named by `--out-<name>`).
 */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, usage: string) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${usage}`);
  }
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Writes one pipeline output parameter (plain text) to the file the pipeline named. */
export async function writeOutput(file: string | undefined, value: string): Promise<void> {
  if (!file) return;
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, value);
  await fs.rename(tmp, file);
}

/** Runs a CLI main: prints the error message (not a stack) and sets the exit code. */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(err instanceof UsageError ? 2 : 1);
    },
  );
}
