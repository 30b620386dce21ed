import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { grafanaProvisioningFiles } from './files';

/**
 * Writes the Grafana files under a directory (same layout as on the VM), e.g. to import the
 * dashboard into an existing Grafana:
 *   npx tsx workloads/monitoring/grafana/write-files.ts --out grafana-out --project my-project --dataset creature_vision --location EU
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      project: { type: 'string' },
      dataset: { type: 'string', default: 'creature_vision' },
      location: { type: 'string', default: 'EU' },
      'datasource-uid': { type: 'string' },
      'models-bucket': { type: 'string' },
    },
  });
  if (!values.out || !values.project) throw new Error('--out DIR and --project PROJECT_ID are required');
  const files = grafanaProvisioningFiles({
    project: values.project,
    datasetId: values.dataset!,
    location: values.location!,
    datasourceUid: values['datasource-uid'],
    modelsBucket: values['models-bucket'],
  });
  for (const [file, content] of Object.entries(files)) {
    const target = path.join(values.out, file);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.writeFile(`${target}.tmp`, content);
    await fs.rename(`${target}.tmp`, target);
    process.stdout.write(`${target}\n`);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`write-files: ${err.message}\n`);
  process.exit(1);
});
