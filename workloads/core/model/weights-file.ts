import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { objectAt } from '../storage/object-uri';

/**
 * Reads the weights of a TensorFlow.js model (model.json + weight shards) as plain
 * Float32Arrays, from a path, or a file://, gs:// or http(s):// URL, without loading TensorFlow.js:
 * the inference service's main thread builds model zero from the ImageNet head's weights
 * (./model-zero.ts) and keeps tfjs out of its memory (only its workers load it).
 */
export interface NamedWeights {
  shape: number[];
  data: Float32Array;
}

interface ModelJson {
  weightsManifest: Array<{ paths: string[]; weights: Array<{ name: string; shape: number[]; dtype: string }> }>;
}

async function readBytes(location: string): Promise<Buffer> {
  if (/^gs:\/\//.test(location)) {
    const { store, key } = objectAt(location);
    return store.read(key);
  }
  if (/^https?:\/\//.test(location)) {
    const res = await fetch(location);
    if (!res.ok) throw new Error(`GET ${location}: HTTP ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }
  return fs.readFile(location.startsWith('file://') ? fileURLToPath(location) : location);
}

function sibling(modelJson: string, file: string): string {
  if (/^(https?|file|gs):\/\//.test(modelJson)) return new URL(file, modelJson).toString();
  return path.join(path.dirname(modelJson), file);
}

export async function readModelWeights(modelJson: string): Promise<Map<string, NamedWeights>> {
  let json: ModelJson;
  try {
    json = JSON.parse((await readBytes(modelJson)).toString('utf8')) as ModelJson;
  } catch (err) {
    throw new Error(`cannot read model ${modelJson}: ${(err as Error).message}`, { cause: err });
  }
  const out = new Map<string, NamedWeights>();
  for (const group of json.weightsManifest) {
    const bytes = Buffer.concat(await Promise.all(group.paths.map((p) => readBytes(sibling(modelJson, p)))));
    let offset = 0;
    for (const w of group.weights) {
      if (w.dtype !== 'float32') throw new Error(`${modelJson}: weight ${w.name} is ${w.dtype}; only float32 weights are read here`);
      const count = w.shape.reduce((a, b) => a * b, 1);
      // Copy into an aligned buffer (shard offsets need not be multiples of 4 in general).
      const data = new Float32Array(count);
      Buffer.from(data.buffer).set(bytes.subarray(offset, offset + count * 4));
      out.set(w.name, { shape: w.shape, data });
      offset += count * 4;
    }
    if (offset !== bytes.length) throw new Error(`${modelJson}: the shards hold ${bytes.length} bytes, the manifest describes ${offset}`);
  }
  return out;
}
