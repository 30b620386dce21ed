import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { continualLearningPipeline } from './continual-learning';
import { stableStringify } from './ir';
import { assertValidSpec } from './validate';

/**
 * `npm run compile:pipeline`: compiles the pipeline definition to the checked-in IR JSON.
 * `npm run compile:pipeline -- --check` exits 1 if the checked-in file is stale (for CI).
 */
export const COMPILED_SPEC_PATH = path.join(__dirname, 'compiled', 'continual-learning.json');

export function compileToJson(): string {
  const spec = continualLearningPipeline();
  assertValidSpec(spec);
  return stableStringify(spec);
}

async function main(argv: string[]): Promise<number> {
  const json = compileToJson();
  if (argv.includes('--check')) {
    const current = await fs.readFile(COMPILED_SPEC_PATH, 'utf8').catch(() => '');
    if (current !== json) {
      console.error(`${path.relative(process.cwd(), COMPILED_SPEC_PATH)} is stale: run npm run compile:pipeline and commit it`);
      return 1;
    }
    console.log(`${path.relative(process.cwd(), COMPILED_SPEC_PATH)} is up to date`);
    return 0;
  }
  const tmp = `${COMPILED_SPEC_PATH}.tmp-${process.pid}`;
  await fs.writeFile(tmp, json);
  await fs.rename(tmp, COMPILED_SPEC_PATH);
  console.log(`wrote ${path.relative(process.cwd(), COMPILED_SPEC_PATH)} (${json.length} bytes)`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
