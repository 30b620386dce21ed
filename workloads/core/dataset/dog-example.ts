import { bytesFeature, decodeExample, encodeExample, type Feature, type Features, int64Feature } from '../tfrecord/example';
import { type DogExample, FEATURE_KEYS } from './features';

/** Encodes a Creature Vision example as a serialized `tf.train.Example`. */
export function encodeDogExample(example: DogExample): Buffer {
  const features: Features = {
    [FEATURE_KEYS.encoded]: bytesFeature(example.jpeg),
    [FEATURE_KEYS.format]: bytesFeature(example.format),
    [FEATURE_KEYS.height]: int64Feature(example.height),
    [FEATURE_KEYS.width]: int64Feature(example.width),
    [FEATURE_KEYS.label]: int64Feature(example.label),
    [FEATURE_KEYS.text]: bytesFeature(example.text),
    [FEATURE_KEYS.sourceId]: bytesFeature(example.sourceId),
  };
  return encodeExample(features);
}

function single(features: Features, key: string, kind: 'bytes', where: string): Buffer;
function single(features: Features, key: string, kind: 'int64', where: string): bigint;
function single(features: Features, key: string, kind: Feature['kind'], where: string): Buffer | bigint | number {
  const f = features[key];
  if (!f) throw new Error(`${where}: feature ${key} is missing; a Creature Vision example has ${Object.values(FEATURE_KEYS).join(', ')}`);
  if (f.kind !== kind) throw new Error(`${where}: feature ${key} is a ${f.kind} list, expected a ${kind} list`);
  if (f.value.length !== 1) throw new Error(`${where}: feature ${key} has ${f.value.length} values, expected exactly 1`);
  return f.value[0];
}

/** Decodes a serialized `tf.train.Example` into a {@link DogExample}; throws naming the bad feature. */
export function decodeDogExample(payload: Uint8Array, where = 'example'): DogExample {
  const features = decodeExample(payload);
  const format = single(features, FEATURE_KEYS.format, 'bytes', where).toString('utf8');
  if (format !== 'jpeg') throw new Error(`${where}: image/format is ${JSON.stringify(format)}, expected "jpeg"`);
  return {
    jpeg: single(features, FEATURE_KEYS.encoded, 'bytes', where),
    format: 'jpeg',
    height: Number(single(features, FEATURE_KEYS.height, 'int64', where)),
    width: Number(single(features, FEATURE_KEYS.width, 'int64', where)),
    label: Number(single(features, FEATURE_KEYS.label, 'int64', where)),
    text: single(features, FEATURE_KEYS.text, 'bytes', where).toString('utf8'),
    sourceId: single(features, FEATURE_KEYS.sourceId, 'bytes', where).toString('utf8'),
  };
}
