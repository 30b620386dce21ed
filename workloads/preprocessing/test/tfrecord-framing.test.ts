import { compress, decompress } from '../../core/tfrecord/compression';
import { framedLength, frameRecords, readFramedRecords, TFRecordCorruptError } from '../../core/tfrecord/framing';

const payloads = [Buffer.from('first record'), Buffer.alloc(300, 7), Buffer.from('third')];
const file = frameRecords(payloads);
const offsets = [0, framedLength(payloads[0].length), framedLength(payloads[0].length) + framedLength(payloads[1].length)];

function corruptionOf(body: Buffer): TFRecordCorruptError {
  try {
    Array.from(readFramedRecords(body, 'test.tfrecord'));
  } catch (err) {
    if (err instanceof TFRecordCorruptError) return err;
    throw err;
  }
  throw new Error('expected a TFRecordCorruptError');
}

describe('TFRecord framing', () => {
  it('round-trips records with their offsets', () => {
    const records = Array.from(readFramedRecords(file));
    expect(records.map((r) => r.data)).toEqual(payloads);
    expect(records.map((r) => r.offset)).toEqual(offsets);
  });

  it('reads an empty file as no records', () => {
    expect(Array.from(readFramedRecords(Buffer.alloc(0)))).toEqual([]);
  });

  it('reports a flipped payload byte at the offset of the record that holds it', () => {
    const bad = Buffer.from(file);
    bad[offsets[1] + 12 + 150] ^= 0x01;
    const err = corruptionOf(bad);
    expect(err).toMatchObject({ kind: 'data_crc_mismatch', offset: offsets[1], recordIndex: 1 });
    expect(err.message).toContain(`test.tfrecord: record 1 at byte offset ${offsets[1]}`);
  });

  it('reports a corrupted length field and a corrupted footer CRC', () => {
    const badLength = Buffer.from(file);
    badLength[offsets[2]] ^= 0x40;
    expect(corruptionOf(badLength)).toMatchObject({ kind: 'length_crc_mismatch', offset: offsets[2], recordIndex: 2 });
    const badFooter = Buffer.from(file);
    badFooter[file.length - 1] ^= 0xff;
    expect(corruptionOf(badFooter)).toMatchObject({ kind: 'data_crc_mismatch', offset: offsets[2] });
  });

  it('reports truncation', () => {
    expect(corruptionOf(file.subarray(0, file.length - 3))).toMatchObject({ kind: 'truncated_record', offset: offsets[2] });
    expect(corruptionOf(file.subarray(0, offsets[1] + 5))).toMatchObject({ kind: 'truncated_header', offset: offsets[1] });
  });

  it('GZIP: compresses the whole stream and reads it back; offsets are in the uncompressed stream', () => {
    const gz = compress(file, 'GZIP');
    expect(gz[0]).toBe(0x1f);
    expect(gz.length).toBeLessThan(file.length);
    const body = decompress(gz, 'GZIP', 'x.tfrecord.gz');
    expect(Array.from(readFramedRecords(body)).map((r) => r.offset)).toEqual(offsets);
    expect(() => decompress(file, 'GZIP', 'x.tfrecord.gz')).toThrow(/gzip magic bytes/);
  });
});
