import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '../tf/backend';
import { objectAt } from '../storage/object-uri';
import type { ObjectStore } from '../storage/object-store';

/**
 * TensorFlow.js IO handlers for where our models live. Without tfjs-node, tfjs cannot
 * read `file://` paths, and it knows nothing of our ObjectStore (GCS or a local
 * directory), so these adapt both to tfjs's `model.json` + weight-shard format.
 */

interface ModelJson {
  modelTopology?: unknown;
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  signature?: unknown;
  userDefinedMetadata?: Record<string, unknown>;
  modelInitializer?: unknown;
  weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
}

async function artifactsFrom(modelJson: ModelJson, readShard: (p: string) => Promise<Buffer>): Promise<tf.io.ModelArtifacts> {
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of modelJson.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) buffers.push(await readShard(p));
  }
  const total = Buffer.concat(buffers);
  return {
    modelTopology: modelJson.modelTopology as tf.io.ModelArtifacts['modelTopology'],
    format: modelJson.format,
    generatedBy: modelJson.generatedBy,
    convertedBy: modelJson.convertedBy,
    signature: modelJson.signature as tf.io.ModelArtifacts['signature'],
    userDefinedMetadata: modelJson.userDefinedMetadata as tf.io.ModelArtifacts['userDefinedMetadata'],
    modelInitializer: modelJson.modelInitializer as tf.io.ModelArtifacts['modelInitializer'],
    weightSpecs,
    weightData: total.buffer.slice(total.byteOffset, total.byteOffset + total.byteLength),
  };
}

/** Loads `model.json` + shards from a path or `file://` URL. */
export function fileHandler(modelJsonPath: string): tf.io.IOHandler {
  const file = modelJsonPath.startsWith('file://') ? fileURLToPath(modelJsonPath) : path.resolve(modelJsonPath);
  return {
    load: async () => {
      let json: ModelJson;
      try {
        json = JSON.parse(await fs.readFile(file, 'utf8')) as ModelJson;
      } catch (err) {
        throw new Error(`cannot read model ${file}: ${(err as Error).message}`, { cause: err });
      }
      return artifactsFrom(json, (p) => fs.readFile(path.join(path.dirname(file), p)));
    },
  };
}

/** Loads a `model.json` at `key` in an ObjectStore, and the shards it lists beside it. */
async function loadFromStore(store: ObjectStore, key: string): Promise<tf.io.ModelArtifacts> {
  const dir = key.slice(0, key.lastIndexOf('/') + 1);
  const json = JSON.parse((await store.read(key)).toString('utf8')) as ModelJson;
  return artifactsFrom(json, (p) => store.read(`${dir}${p}`));
}

/**
 * A handler for a URL or path: `gs://` through the object store (with this process's
 * service account: the stack uploads the backbone to the models bucket), `http(s)://`
 * through tfjs's own fetch-based loader, else the file system. TF Hub URLs stay strings
 * (tfjs resolves their `?tfjs-format` itself).
 */
export function handlerFor(urlOrPath: string): tf.io.IOHandler | string {
  if (/^https:\/\/tfhub\.dev\//.test(urlOrPath)) return urlOrPath;
  if (/^gs:\/\//.test(urlOrPath)) {
    const { store, key } = objectAt(urlOrPath);
    return { load: () => loadFromStore(store, key) };
  }
  return /^https?:\/\//.test(urlOrPath) ? tf.io.http(urlOrPath) : fileHandler(urlOrPath);
}

interface GraphNode {
  op: string;
  attr?: { shape?: { shape?: { dim?: Array<{ size: string }> } } };
}
interface TensorInfo {
  tensorShape?: { dim?: Array<{ size: string }> };
}

/**
 * The same model, read for images of `size`×`size`: rewrites the declared input shape
 * (a graph model's Placeholder and signature, a layers model's InputLayer) from the size it
 * was exported at. Convolutions and global pooling work at any size; only the
 * declaration pins it, and tfjs refuses other shapes.
 */
export function withInputSize(handler: tf.io.IOHandler, size: number): tf.io.IOHandler {
  const hw = (dims: Array<{ size: string }>): Array<{ size: string }> =>
    dims.length === 4 ? [dims[0], { size: String(size) }, { size: String(size) }, dims[3]] : dims;
  return {
    load: async () => {
      const artifacts = await handler.load!();
      const topology = artifacts.modelTopology as {
        node?: GraphNode[];
        config?: { layers?: Array<{ class_name: string; config: Record<string, unknown> }> };
      };
      for (const node of topology.node ?? []) {
        const dims = node.op === 'Placeholder' ? node.attr?.shape?.shape?.dim : undefined;
        if (dims) node.attr!.shape!.shape!.dim = hw(dims);
      }
      const inputs = (artifacts.signature as { inputs?: Record<string, TensorInfo> } | undefined)?.inputs ?? {};
      for (const input of Object.values(inputs)) if (input.tensorShape?.dim) input.tensorShape.dim = hw(input.tensorShape.dim);
      for (const layer of topology.config?.layers ?? []) {
        const shape = layer.class_name === 'InputLayer' ? (layer.config.batch_input_shape as unknown[] | undefined) : undefined;
        if (shape?.length === 4) layer.config.batch_input_shape = [shape[0], size, size, shape[3]];
      }
      return artifacts;
    },
  };
}

/** Loads and saves a model under `prefix` in an ObjectStore (`<prefix>model.json` + `<prefix>weights.bin`). */
export function objectStoreHandler(store: ObjectStore, prefix: string): tf.io.IOHandler {
  return {
    load: () => loadFromStore(store, `${prefix}model.json`),
    save: async (artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> => {
      const weightData = artifacts.weightData
        ? Buffer.from(tf.io.CompositeArrayBuffer.join(artifacts.weightData as ArrayBuffer | ArrayBuffer[]))
        : Buffer.alloc(0);
      const modelJson: ModelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? undefined,
        userDefinedMetadata: artifacts.userDefinedMetadata as Record<string, unknown> | undefined,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      // Weights first, topology second: a reader that finds model.json finds its weights.
      await store.write(`${prefix}weights.bin`, weightData);
      await store.write(`${prefix}model.json`, JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}
