import { modelKeys } from '../core/layout';
import type { ObjectStore } from '../core/storage/object-store';
import { tf } from '../core/tf/backend';
import type { Checkpoint, LoopState, NamedTensor } from './loop';

/**
 * Training checkpoints: `modelKeys.checkpoint(run id)` in the models bucket, ONE
 * object per checkpoint (u32le header length, JSON header, tfjs-encoded weights) written
 * atomically, so a crash leaves the previous checkpoint intact, never a mix of two epochs.
 * The header carries a fingerprint of everything that determines the run (dataset,
 * trunk, hyperparameters); a checkpoint for a different setup is refused, not half-used.
 */

interface Header {
  fingerprint: string;
  state: LoopState;
  counts: { weights: number; best: number; optimizer: number };
  optimizerNames: string[];
  specs: tf.io.WeightsManifestEntry[];
}

export class CheckpointMismatchError extends Error {
  constructor(runId: string, expected: string, found: string) {
    super(
      `checkpoint for run ${runId} was made with a different setup (fingerprint ${found}, this run ${expected}): ` +
        'use a new --run-id, or pass --no-resume to start over',
    );
    this.name = 'CheckpointMismatchError';
  }
}

export async function saveCheckpoint(store: ObjectStore, runId: string, fingerprint: string, cp: Checkpoint): Promise<void> {
  const named: NamedTensor[] = [
    ...cp.weights.map((tensor, i) => ({ name: `w/${i}`, tensor })),
    ...cp.best.map((tensor, i) => ({ name: `b/${i}`, tensor })),
    ...cp.optimizer.map((t, i) => ({ name: `o/${i}`, tensor: t.tensor })),
  ];
  const { data, specs } = await tf.io.encodeWeights(named);
  const header: Header = {
    fingerprint,
    state: cp.state,
    counts: { weights: cp.weights.length, best: cp.best.length, optimizer: cp.optimizer.length },
    optimizerNames: cp.optimizer.map((o) => o.name),
    specs,
  };
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(h.length, 0);
  await store.write(modelKeys.checkpoint(runId), Buffer.concat([len, h, Buffer.from(data)]));
}

export async function loadCheckpoint(store: ObjectStore, runId: string, fingerprint: string): Promise<Checkpoint | undefined> {
  const found = await store.readIfExists(modelKeys.checkpoint(runId));
  if (!found) return undefined;
  const buf = found.data;
  const hl = buf.readUInt32LE(0);
  const header = JSON.parse(buf.subarray(4, 4 + hl).toString('utf8')) as Header;
  if (header.fingerprint !== fingerprint) throw new CheckpointMismatchError(runId, fingerprint, header.fingerprint);
  const body = buf.subarray(4 + hl);
  const ab = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer;
  const map = tf.io.decodeWeights(ab, header.specs);
  const pick = (prefix: string, n: number): tf.Tensor[] => Array.from({ length: n }, (_, i) => map[`${prefix}/${i}`]);
  return {
    state: header.state,
    weights: pick('w', header.counts.weights),
    best: pick('b', header.counts.best),
    optimizer: pick('o', header.counts.optimizer).map((tensor, i) => ({ name: header.optimizerNames[i], tensor })),
  };
}

export async function deleteCheckpoint(store: ObjectStore, runId: string): Promise<void> {
  await store.delete(modelKeys.checkpoint(runId));
}
