import { MultiBar, Presets, SingleBar } from 'cli-progress';
import type { TrainProgress } from './train';

/**
 * Terminal progress for a training run: one bar for feature extraction, one per epoch.
 * Written to stderr (stdout stays free for machine-readable output); disabled when stderr
 * is not a terminal, where the JSON logs already carry per-epoch records.
 */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): {
  onProgress: (p: TrainProgress) => void;
  stop: () => void;
} {
  if (!stream.isTTY) return { onProgress: () => undefined, stop: () => undefined };
  const multi = new MultiBar(
    { stream, clearOnComplete: false, hideCursor: true, format: '{label} [{bar}] {value}/{total} {info}' },
    Presets.shades_classic,
  );
  let features: SingleBar | undefined;
  let epochBar: SingleBar | undefined;
  let epochNo = 0;
  return {
    onProgress: (p) => {
      if (p.stage === 'features') {
        features ??= multi.create(p.total, 0, { label: 'trunk features', info: '' });
        features.update(p.done);
      } else if (p.stage === 'batch') {
        if (!epochBar || p.batch === 1) {
          epochNo++;
          epochBar = multi.create(p.batches, 0, { label: `epoch ${String(epochNo).padStart(2)} (${p.phase})`, info: '' });
        }
        epochBar.update(p.batch);
      } else if (p.stage === 'epoch') {
        const r = p.record;
        epochNo = r.epoch;
        epochBar?.update(epochBar.getTotal(), {
          info: `loss ${r.loss.toFixed(3)} acc ${(r.accuracy * 100).toFixed(1)}% val_loss ${r.valLoss.toFixed(3)} val_acc ${(r.valAccuracy * 100).toFixed(1)}%`,
        });
        epochBar = undefined;
      }
    },
    stop: () => multi.stop(),
  };
}
