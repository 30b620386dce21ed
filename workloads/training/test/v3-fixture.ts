import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Prng } from '../features/prng';
import { SHARED_MODELS } from './fixtures';

/**
 * The MobileNetV3-Small graph model with a synthesized first weight shard (see
 * ../shared/models/README.md): random float32 weights, [1, 2] for the int32 squeeze-excite
 * `reduction_indices`. Built in a temp dir (model.json + real shard 2 copied beside it),
 * never in the repository. Good for the loading path and timing, useless for accuracy.
 */
export const V3_DIR = path.join(SHARED_MODELS, 'mobilenet_v3_small_topology');
const SHARD1_BYTES = 4_194_304;

interface WeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
}

export function synthesizeV3(dir = mkdtempSync(path.join(os.tmpdir(), 'cv-v3-'))): string {
  const modelJson = JSON.parse(readFileSync(path.join(V3_DIR, 'model.json'), 'utf8')) as {
    weightsManifest: Array<{ paths: string[]; weights: WeightEntry[] }>;
  };
  const [group] = modelJson.weightsManifest;
  const shard = Buffer.alloc(SHARD1_BYTES);
  const r = Prng.from('v3-shard');
  // Small random weights keep activations finite through the network.
  for (let o = 0; o < SHARD1_BYTES; o += 4) shard.writeFloatLE(r.uniform(-0.05, 0.05), o);
  let offset = 0;
  for (const w of group.weights) {
    const count = w.shape.reduce((a, b) => a * b, 1);
    if (w.dtype === 'int32') {
      if (offset + count * 4 > SHARD1_BYTES) throw new Error(`int32 tensor ${w.name} is not in shard 1 as the README says`);
      if (count !== 2) throw new Error(`int32 tensor ${w.name} has ${count} values; expected the [1, 2] reduction indices`);
      shard.writeInt32LE(1, offset);
      shard.writeInt32LE(2, offset + 4);
    }
    offset += count * 4;
  }
  writeFileSync(path.join(dir, group.paths[0]), shard);
  copyFileSync(path.join(V3_DIR, group.paths[1]), path.join(dir, group.paths[1]));
  copyFileSync(path.join(V3_DIR, 'model.json'), path.join(dir, 'model.json'));
  return path.join(dir, 'model.json');
}
