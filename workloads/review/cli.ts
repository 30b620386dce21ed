import Table from 'cli-table3';
import { UsageError, parseFlags, runMain } from '../core/cli';
import { loadConfig } from '../core/config/load';
import { assertSafeId } from '../core/layout';
import { openDataLake } from '../core/storage/data-lake';
import { recordReview, reviewQueue } from './queue';

const USAGE = `usage:
  review list [--all] [--json]             users' photos awaiting a decision (--all: decided ones too)
  review approve <id> [--label L] [--reviewer NAME] [--note TEXT]
                                           trust the photo with its label, or with L (a new breed too)
  review reject <id> [--reviewer NAME] [--note TEXT]
                                           keep the photo out of training and evaluation for good
Buckets come from the CV_* environment (locally: the data root, .creature-vision).`;

runMain(
  'review',
  async () => {
    const { values, positionals } = parseFlags(
      process.argv.slice(2),
      {
        all: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        label: { type: 'string' },
        reviewer: { type: 'string' },
        note: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      true,
    );
    const [command, id] = positionals;
    if (values.help || !command) {
      process.stdout.write(`${USAGE}\n`);
      if (!command) throw new UsageError('a command is required: list, approve or reject');
      return 0;
    }
    const config = loadConfig();
    const lake = openDataLake(config);
    if (command === 'list') {
      const items = await reviewQueue(lake, config, { all: values.all });
      if (values.json) {
        process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
        return 0;
      }
      const table = new Table({
        head: ['id', 'photo', 'model said', 'votes', 'status'],
        style: process.stdout.isTTY ? {} : { head: [], border: [] },
      });
      for (const i of items) {
        table.push([
          i.id,
          lake.raw.uri(i.imageKey),
          i.model.predicted ?? '—',
          i.votes.map((v) => `${v.label} ×${v.voters.length}`).join(', '),
          i.status,
        ]);
      }
      process.stdout.write(`${items.length} photo(s)\n${table.toString()}\n`);
      return 0;
    }
    if (command !== 'approve' && command !== 'reject')
      throw new UsageError(`unknown command ${JSON.stringify(command)}; use list, approve or reject`);
    if (!id) throw new UsageError(`${command} needs the id of a photo (see \`review list\`)`);
    const review = await recordReview(lake.raw, {
      id: assertSafeId('label id', id),
      decision: command,
      label: values.label,
      reviewer: values.reviewer ?? process.env.USER ?? 'operator',
      note: values.note,
    });
    process.stdout.write(`${review.decision === 'approve' ? `approved as ${review.label}` : 'rejected'}: ${id} (by ${review.reviewer})\n`);
    return 0;
  },
  USAGE,
);
