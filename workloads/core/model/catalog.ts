import * as path from 'node:path';
import { BACKBONE_INPUT_SIZES, type BackboneName, type WorkloadConfig } from '../config/schema';

/**
 * Backbones behind one interface. A model version is a frozen (or partly fine-tuned)
 * backbone "trunk" plus a small trained "head"; the trunk is described by a
 * {@link BackboneSpec} so a serving process loads it once and swaps only heads.
 */
export interface BackboneSpec {
  name: BackboneName;
  /** Where the backbone is (path, or a file://, gs:// or https:// URL): its model.json, or its folder (see {@link BackboneInfo.files}). */
  url: string;
  /** Pixel range the backbone expects. */
  inputRange: [number, number];
  inputSize: number;
  /**
   * Name of the layer whose output feeds the head, when the top of a layers backbone was
   * fine-tuned and now lives in the head. `null`: the backbone's final feature vector.
   */
  cut: string | null;
  /** Shape of one trunk output (without the batch dimension). */
  outputShape: number[];
}

export interface BackboneInfo {
  name: BackboneName;
  /** What computes frozen features: a layers model, or a graph model (fused ops, not trainable). */
  kind: 'layers' | 'graph';
  inputRange: [number, number];
  featureDim: number;
  /** Default location, used when config `model.backboneUrl` is empty. */
  defaultUrl: string;
  /**
   * A backbone shipped as a folder of models (mobilenet_v2_100): where each one is inside
   * it. `graph` computes frozen features (serving, feature extraction); `layers` holds the
   * same weights as a trainable layers model (fine-tuning); `imagenetHead` is the
   * features → 1001 ImageNet logits classifier (model zero, "not a dog"). Absent: the URL
   * is the one model.json.
   */
  files?: { graph: string; layers: string; imagenetHead: string };
  /** Whether the top layers can be fine-tuned (a layers model exists). */
  fineTunable: boolean;
}

/** Repository root → ../shared, where the offline backbones live next to the clone. */
export const SHARED_MODELS = path.resolve(__dirname, '../../../../shared/models');

export const BACKBONES: Record<BackboneName, BackboneInfo> = {
  mobilenet_v2_100: {
    name: 'mobilenet_v2_100',
    kind: 'graph',
    inputRange: [-1, 1],
    featureDim: 1280,
    defaultUrl: path.join(SHARED_MODELS, 'mobilenet_v2_100'),
    files: { graph: 'features_graph/model.json', layers: 'features/model.json', imagenetHead: 'imagenet_head/model.json' },
    fineTunable: true,
  },
  mobilenet_v2_035: {
    name: 'mobilenet_v2_035',
    kind: 'layers',
    inputRange: [-1, 1],
    featureDim: 1280,
    defaultUrl: path.join(SHARED_MODELS, 'mobilenet_v2_035/model.json'),
    fineTunable: true,
  },
  mobilenet_v3_small: {
    name: 'mobilenet_v3_small',
    kind: 'graph',
    inputRange: [0, 1],
    featureDim: 1024,
    defaultUrl: 'https://tfhub.dev/google/tfjs-model/imagenet/mobilenet_v3_small_100_224/feature_vector/5/default/1',
    fineTunable: false,
  },
};

export function infoOf(name: BackboneName): BackboneInfo {
  const info = BACKBONES[name];
  if (!info) throw new Error(`unknown backbone ${JSON.stringify(name)}; backbones are ${Object.keys(BACKBONES).join(', ')}`);
  return info;
}

/** `rel` inside the folder `base` (a path, or a file://, gs:// or http(s):// URL). */
function inside(base: string, rel: string): string {
  if (/^(https?|file|gs):\/\//.test(base)) return new URL(rel, base.endsWith('/') ? base : `${base}/`).toString();
  return path.join(base, rel);
}

/**
 * Where one part of a backbone is: `features` (the model that computes frozen features),
 * `layers` (a trainable layers model of the same weights) or `imagenetHead`. null when
 * the backbone has no such part.
 */
export function backbonePart(spec: Pick<BackboneSpec, 'name' | 'url'>, part: 'features' | 'layers' | 'imagenetHead'): string | null {
  const info = infoOf(spec.name);
  if (info.files) return inside(spec.url, part === 'features' ? info.files.graph : info.files[part]);
  if (part === 'features') return spec.url;
  if (part === 'layers') return info.kind === 'layers' ? spec.url : null;
  return null;
}

/**
 * A backbone that lives in the offline models directory (`../shared/models` next to the
 * clone): where it is inside that directory (its folder or its model.json), and the
 * model.json files of its parts, relative to the directory. null for a backbone loaded from
 * the web (TF Hub).
 */
export function offlineBackbone(name: BackboneName): { location: string; modelJsons: string[] } | null {
  const info = infoOf(name);
  if (/^https?:\/\//.test(info.defaultUrl)) return null;
  const location = path.relative(SHARED_MODELS, info.defaultUrl).split(path.sep).join('/');
  const parts = info.files ? [...new Set(Object.values(info.files))].map((f) => `${location}/${f}`) : [location];
  return { location, modelJsons: parts };
}

/** The spec of a backbone's plain feature-vector trunk. */
export function baseSpec(name: BackboneName, url = '', inputSize?: number): BackboneSpec {
  const info = infoOf(name);
  const sizes = BACKBONE_INPUT_SIZES[name];
  const size = inputSize ?? sizes[0];
  if (!sizes.includes(size)) throw new Error(`backbone ${name} takes input sizes ${sizes.join(', ')}, not ${size}`);
  return {
    name,
    url: url || info.defaultUrl,
    inputRange: info.inputRange,
    inputSize: size,
    cut: null,
    outputShape: [info.featureDim],
  };
}

/** The frozen trunk the configuration asks for (`model.backbone`, `model.backboneUrl`, `model.inputSize`). */
export function configuredSpec(model: WorkloadConfig['model']): BackboneSpec {
  return baseSpec(model.backbone, model.backboneUrl, model.inputSize);
}

/**
 * The ImageNet heads' class layout (mobilenet_v2_100's `imagenet_head/`): 1001 units, unit
 * 0 "background" and ImageNet-1k class k (0–999) at unit k + 1. Classes 151–268 are the
 * dog breeds (the WordNet subtree of "dog"): their probability mass is how sure the head is
 * that an image shows a dog at all ("not a dog" answers).
 */
export const IMAGENET = { units: 1001, offset: 1, dogClasses: { first: 151, last: 268 } } as const;
