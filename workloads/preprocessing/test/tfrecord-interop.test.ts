/**
 * Interoperability with TensorFlow: the files in ../shared/test-vectors/tfrecord were
 * written by TensorFlow; expected_values.json lists what TensorFlow read from them.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { maskedCrc32c } from '../../core/tfrecord/crc';
import { decodeExample, encodeExample, EXAMPLE_PROTO_SOURCE, type Feature } from '../../core/tfrecord/example';
import { frameRecord, frameRecords, readFramedRecords } from '../../core/tfrecord/framing';
import { decodeDogExample, encodeDogExample } from '../../core/dataset/dog-example';

const VECTORS = resolve(__dirname, '../../../../shared/test-vectors/tfrecord');

interface ImageExpectation {
  fmt: 'JPEG' | 'PNG';
  len: number;
  hw: [number, number];
  extra: number | [number, number];
  sha256: string;
}
interface FileExpectation {
  size_bytes: number;
  sha256: string;
  compression: string;
  num_records: number;
  record_offsets: number[];
  record_lengths: number[];
  length_crcs_masked: string[];
  data_crcs_masked: string[];
  feature_types: Record<string, 'int64_list' | 'bytes_list' | 'float_list'>;
  records: Record<string, number | string | ImageExpectation>[];
}
const expected = JSON.parse(readFileSync(join(VECTORS, 'expected_values.json'), 'utf8')) as Record<string, FileExpectation>;
const files = Object.entries(expected);
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/** What TensorFlow's expected_values.json says about an image, checked from the bytes themselves. */
async function describeImage(bytes: Buffer, fmt: string): Promise<Omit<ImageExpectation, 'sha256' | 'len'>> {
  const meta = await sharp(bytes).metadata();
  const hw: [number, number] = [meta.height ?? -1, meta.width ?? -1];
  // PNG: [bit depth, colour type] from the IHDR chunk; JPEG: number of components.
  const extra: ImageExpectation['extra'] = fmt === 'PNG' ? [bytes[24], bytes[25]] : (meta.channels ?? -1);
  return { fmt: meta.format === 'png' ? 'PNG' : 'JPEG', hw, extra };
}

describe.each(files)('TensorFlow-written %s', (name, exp) => {
  const file = readFileSync(join(VECTORS, name));

  it('is the file the expectations describe', () => {
    expect(exp.compression).toBe('NONE');
    expect(file.length).toBe(exp.size_bytes);
    expect(sha256(file)).toBe(exp.sha256);
  });

  it('reads with the listed offsets, lengths and masked CRCs', () => {
    const records = Array.from(readFramedRecords(file, name));
    expect(records).toHaveLength(exp.num_records);
    expect(records.map((r) => r.offset)).toEqual(exp.record_offsets);
    expect(records.map((r) => r.length)).toEqual(exp.record_lengths);
    expect(records.map((r) => hex(r.lengthCrc))).toEqual(exp.length_crcs_masked);
    expect(records.map((r) => hex(r.dataCrc))).toEqual(exp.data_crcs_masked);
  });

  it('decodes the listed feature types and values', async () => {
    const records = Array.from(readFramedRecords(file, name));
    for (const [i, record] of records.entries()) {
      const features = decodeExample(record.data);
      const want = exp.records[i];
      // Same key set; map order is not part of the contract.
      expect(Object.keys(features).sort()).toEqual(Object.keys(exp.feature_types).sort());
      for (const [key, type] of Object.entries(exp.feature_types)) {
        const f = features[key] as Feature;
        expect(`${f.kind}_list`).toBe(type);
        const value = want[key];
        if (f.kind === 'int64') {
          expect(f.value).toEqual([BigInt(value as number)]);
        } else if (f.kind === 'bytes' && typeof value === 'string') {
          expect(f.value.map((b) => b.toString('utf8'))).toEqual([value]);
        } else if (f.kind === 'bytes') {
          const img = value as ImageExpectation;
          expect(f.value).toHaveLength(1);
          expect(f.value[0].length).toBe(img.len);
          expect(sha256(f.value[0])).toBe(img.sha256);
          expect(await describeImage(f.value[0], img.fmt)).toEqual({ fmt: img.fmt, hw: img.hw, extra: img.extra });
        } else {
          throw new Error(`unexpected feature kind ${f.kind} for ${key}`);
        }
      }
    }
  });

  it('our writer reproduces the file byte for byte (framing, masked CRC32C, Example encoding)', () => {
    const records = Array.from(readFramedRecords(file, name));
    // Framing: every header and footer we compute equals TensorFlow's.
    for (const r of records) {
      const ours = frameRecord(r.data);
      expect(ours.subarray(0, 12).equals(file.subarray(r.offset, r.offset + 12))).toBe(true);
      expect(ours.subarray(-4).equals(file.subarray(r.offset + 12 + r.length, r.offset + 16 + r.length))).toBe(true);
    }
    // Example encoding: decode then re-encode (same key order) gives TensorFlow's payload bytes,
    // including the packed int64 lists.
    const reencoded = records.map((r) => encodeExample(decodeExample(r.data)));
    reencoded.forEach((payload, i) => expect(payload.equals(records[i].data)).toBe(true));
    // And the whole file.
    expect(sha256(frameRecords(reencoded))).toBe(exp.sha256);
  });
});

describe('masked CRC32C', () => {
  it('matches the CRC32C check value and TensorFlow masking', () => {
    // CRC32C("123456789") = 0xe3069283; masked = rotr15 + 0xa282ead8.
    const crc = 0xe3069283;
    expect(maskedCrc32c(Buffer.from('123456789'))).toBe((((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0);
  });
});

/** A minimal protobuf wire walker, independent of protobufjs, for cross-checking our encoder. */
function walk(buf: Buffer): { field: number; wire: number; value: bigint | Buffer }[] {
  const out: { field: number; wire: number; value: bigint | Buffer }[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const wire = key & 7;
    if (wire === 0) out.push({ field: key >> 3, wire, value: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      out.push({ field: key >> 3, wire, value: buf.subarray(pos, pos + len) });
      pos += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

describe('our Example encoding, parsed independently', () => {
  const example = {
    jpeg: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]),
    format: 'jpeg' as const,
    height: 224,
    width: 224,
    label: 300, // > 127: a multi-byte varint
    text: 'golden_retriever',
    sourceId: 'ab'.repeat(32),
  };
  const payload = encodeDogExample(example);

  it('round-trips through our decoder', () => {
    expect(decodeDogExample(payload)).toEqual(example);
  });

  it('has the tf.train.Example wire layout with packed int64 lists (hand-written wire walker)', () => {
    const [features] = walk(payload);
    expect(features.field).toBe(1);
    const entries = walk(features.value as Buffer).map((e) => walk(e.value as Buffer));
    const byKey = new Map(entries.map(([k, v]) => [(k.value as Buffer).toString('utf8'), walk(v.value as Buffer)[0]]));
    // Feature.int64_list = 3, Int64List.value = 1 packed (wire type 2: length-delimited varints).
    const label = byKey.get('image/class/label')!;
    expect(label.field).toBe(3);
    const packed = walk(label.value as Buffer)[0];
    expect(packed).toMatchObject({ field: 1, wire: 2 });
    expect((packed.value as Buffer).equals(Buffer.from([0xac, 0x02]))).toBe(true); // varint(300)
    // Feature.bytes_list = 1.
    const encoded = byKey.get('image/encoded')!;
    expect(encoded.field).toBe(1);
    expect((walk(encoded.value as Buffer)[0].value as Buffer).equals(example.jpeg)).toBe(true);
  });

  // protoc is Google's C++ protobuf implementation (Debian package protobuf-compiler).
  const protoc = (() => {
    try {
      execFileSync('protoc', ['--version']);
      return true;
    } catch {
      return false;
    }
  })();
  (protoc ? it : it.skip)('decodes with protoc --decode=tensorflow.Example (Google C++ protobuf)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cv-proto-'));
    writeFileSync(join(dir, 'example.proto'), EXAMPLE_PROTO_SOURCE);
    const text = execFileSync('protoc', [`--proto_path=${dir}`, '--decode=tensorflow.Example', 'example.proto'], {
      input: payload,
    }).toString();
    expect(text).toMatch(/key: "image\/class\/label"\s+value \{\s+int64_list \{\s+value: 300\s+\}/);
    expect(text).toMatch(/key: "image\/class\/text"\s+value \{\s+bytes_list \{\s+value: "golden_retriever"/);
    expect(text).toMatch(/key: "image\/height"\s+value \{\s+int64_list \{\s+value: 224/);
  });
});
