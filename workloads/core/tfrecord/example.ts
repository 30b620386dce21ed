import * as protobuf from 'protobufjs';
import Long from 'long';

/**
 * `tf.train.Example` encoding with protobufjs, from TensorFlow's own schema
 * (tensorflow/core/example/{example,feature}.proto; proto3, so repeated numeric fields
 * are packed, as TensorFlow writes them).
 */
const EXAMPLE_PROTO = `
syntax = "proto3";
package tensorflow;
message BytesList { repeated bytes value = 1; }
message FloatList { repeated float value = 1 [packed = true]; }
message Int64List { repeated int64 value = 1 [packed = true]; }
message Feature {
  oneof kind {
    BytesList bytes_list = 1;
    FloatList float_list = 2;
    Int64List int64_list = 3;
  }
}
message Features { map<string, Feature> feature = 1; }
message Example { Features features = 1; }
`;

/** The .proto text above, for tools that want it (e.g. `protoc --decode`). */
export const EXAMPLE_PROTO_SOURCE = EXAMPLE_PROTO;

const root = protobuf.parse(EXAMPLE_PROTO, { keepCase: true }).root;
const ExampleType = root.lookupType('tensorflow.Example');

/** One feature: exactly one of the three list kinds. int64 values are bigints (they may exceed 2^53). */
export type Feature = { kind: 'bytes'; value: Buffer[] } | { kind: 'int64'; value: bigint[] } | { kind: 'float'; value: number[] };

/** Features by key. Wire order is kept on decode and used on encode; nothing should depend on it. */
export type Features = Record<string, Feature>;

export const bytesFeature = (...value: (Buffer | string)[]): Feature => ({
  kind: 'bytes',
  value: value.map((v) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v)),
});
export const int64Feature = (...value: (number | bigint)[]): Feature => ({ kind: 'int64', value: value.map((v) => BigInt(v)) });

interface WireFeature {
  bytes_list?: { value?: Uint8Array[] };
  float_list?: { value?: number[] };
  int64_list?: { value?: (Long | number)[] };
}

const toLong = (v: bigint): Long => Long.fromString(v.toString(), false);

export function encodeExample(features: Features): Buffer {
  const feature: Record<string, WireFeature> = {};
  for (const [key, f] of Object.entries(features)) {
    if (f.kind === 'bytes') feature[key] = { bytes_list: { value: f.value } };
    else if (f.kind === 'int64') feature[key] = { int64_list: { value: f.value.map(toLong) } };
    else feature[key] = { float_list: { value: f.value } };
  }
  const message = ExampleType.fromObject({ features: { feature } });
  return Buffer.from(ExampleType.encode(message).finish());
}

export class ExampleDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExampleDecodeError';
  }
}

export function decodeExample(payload: Uint8Array): Features {
  let decoded: { features?: { feature?: Record<string, WireFeature> } };
  try {
    decoded = ExampleType.decode(payload) as unknown as typeof decoded;
  } catch (err) {
    throw new ExampleDecodeError(`record is not a tf.train.Example: ${(err as Error).message}`);
  }
  const out: Features = {};
  for (const [key, f] of Object.entries(decoded.features?.feature ?? {})) {
    if (f.bytes_list)
      out[key] = { kind: 'bytes', value: (f.bytes_list.value ?? []).map((b) => Buffer.from(b.buffer, b.byteOffset, b.length)) };
    else if (f.int64_list) out[key] = { kind: 'int64', value: (f.int64_list.value ?? []).map((v) => BigInt(v.toString())) };
    else if (f.float_list) out[key] = { kind: 'float', value: f.float_list.value ?? [] };
    // A Feature with no kind set is legal protobuf (an empty feature); TensorFlow treats it as absent.
  }
  return out;
}
