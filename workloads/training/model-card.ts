import type { EvalMetrics } from '../evaluation/metrics';
import type { ModelVersionMeta } from '../core/model/model-version';
import type { EpochRecord } from './loop';

/** What the model card says, gathered by the training run. */
export interface CardInput {
  meta: ModelVersionMeta;
  test: EvalMetrics;
  validation: { loss: number; accuracy: number } | null;
  history: EpochRecord[];
  bestEpoch: number | null;
  hyperparameters: Record<string, unknown>;
  warmStart: { parent: string; keptClasses: number; newClasses: string[] } | null;
  datasetCounts: Record<string, number>;
  backend: string;
  durationS: number;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** A short model card (markdown): what it is, what it was trained on, how well it does per class. */
export function renderModelCard(c: CardInput): string {
  const m = c.meta;
  const lines: string[] = [];
  lines.push(`# Model card: ${m.version}`, '');
  lines.push(
    'Dog-breed classifier: a MobileNet backbone (ImageNet weights) with a head trained by transfer learning ' +
      'on the Creature Vision dataset. Input: one RGB photo, resized to ' +
      `${m.backbone.inputSize}×${m.backbone.inputSize}. Output: a probability for each of ${m.labels.length} breeds.`,
    '',
  );
  lines.push('## Lineage', '');
  lines.push(`| | |`, `|---|---|`);
  lines.push(`| created | ${m.createdAt} |`);
  lines.push(`| dataset version | ${m.datasetVersion ?? '—'} |`);
  lines.push(`| parent model | ${m.parentVersion ?? '— (trained from the backbone only)'} |`);
  lines.push(`| training run | ${m.trainingRunId ?? '—'} |`);
  lines.push(`| backbone | ${m.backbone.name} (${m.backbone.cut ? `layers above \`${m.backbone.cut}\` fine-tuned` : 'frozen'}) |`);
  lines.push(
    `| examples | ${Object.entries(c.datasetCounts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')} |`,
  );
  lines.push(`| runtime | TensorFlow.js (${c.backend}), ${c.durationS.toFixed(0)} s |`);
  if (c.warmStart) {
    lines.push(
      `| warm start | from ${c.warmStart.parent}: ${c.warmStart.keptClasses} classes kept` +
        `${c.warmStart.newClasses.length ? `, new: ${c.warmStart.newClasses.join(', ')}` : ''} |`,
    );
  }
  lines.push('');
  lines.push('## Held-out test metrics', '');
  lines.push(`| metric | value |`, `|---|---|`);
  lines.push(`| examples | ${c.test.n} |`);
  lines.push(`| top-1 accuracy | ${pct(c.test.top1)} |`);
  lines.push(`| top-5 accuracy | ${pct(c.test.top5)} |`);
  lines.push(`| macro F1 | ${c.test.macroF1.toFixed(3)} |`);
  lines.push(`| expected calibration error | ${c.test.ece.toFixed(3)} |`);
  if (c.validation) lines.push(`| validation accuracy (best epoch ${c.bestEpoch ?? '—'}) | ${pct(c.validation.accuracy)} |`);
  lines.push('');
  lines.push('### Per class', '');
  lines.push('| breed | test examples | precision | recall | F1 |', '|---|---:|---:|---:|---:|');
  for (const k of c.test.perClass) {
    lines.push(
      `| ${k.label} | ${k.support} | ${k.support ? pct(k.precision) : '—'} | ${k.support ? pct(k.recall) : '—'} | ${k.support ? k.f1.toFixed(3) : '—'} |`,
    );
  }
  lines.push('', '![confusion matrix](confusion-matrix.png)', '', '![training curves](training-curves.png)', '');
  lines.push('## Training', '');
  lines.push('| epoch | phase | loss | accuracy | val loss | val accuracy | learning rate |', '|---:|---|---:|---:|---:|---:|---:|');
  for (const h of c.history) {
    lines.push(
      `| ${h.epoch}${h.epoch === c.bestEpoch ? ' (best)' : ''} | ${h.phase} | ${h.loss.toFixed(4)} | ${pct(h.accuracy)} | ` +
        `${h.valLoss.toFixed(4)} | ${pct(h.valAccuracy)} | ${h.learningRate.toExponential(2)} |`,
    );
  }
  lines.push('', '### Hyperparameters', '', '```json', JSON.stringify(c.hyperparameters, null, 2), '```', '');
  lines.push('## Limitations', '');
  lines.push(
    '- Knows only the breeds listed above; any other dog (or any non-dog) is forced into one of them.',
    '- Trained on a few thousand photos; accuracy on photos unlike the training data (drawings, unusual angles) is lower.',
    '- Per-class numbers rest on few test examples each: treat differences of a few points as noise.',
    '',
  );
  return lines.join('\n');
}
