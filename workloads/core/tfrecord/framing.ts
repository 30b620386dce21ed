import { maskedCrc32c } from './crc';

/**
 * TFRecord framing, exactly as TensorFlow writes it (tensorflow/core/io/record_writer.cc):
 *
 *   uint64 length (little endian)
 *   uint32 masked_crc32c(length bytes)
 *   byte   data[length]
 *   uint32 masked_crc32c(data)
 *
 * Offsets reported here are byte offsets of a record's header in the uncompressed
 * stream, the same numbers TensorFlow's `DataLossError: corrupted record at <offset>` uses.
 */
export const HEADER_BYTES = 12;
export const FOOTER_BYTES = 4;

/** Bytes a payload of `length` bytes takes once framed. */
export const framedLength = (length: number): number => HEADER_BYTES + length + FOOTER_BYTES;

/** Frames one record. */
export function frameRecord(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(framedLength(payload.length));
  out.writeBigUInt64LE(BigInt(payload.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(payload, HEADER_BYTES);
  out.writeUInt32LE(maskedCrc32c(payload), HEADER_BYTES + payload.length);
  return out;
}

/** Frames records into one TFRecord file body. */
export function frameRecords(payloads: Iterable<Uint8Array>): Buffer {
  return Buffer.concat(Array.from(payloads, frameRecord));
}

export type CorruptionKind = 'truncated_header' | 'length_crc_mismatch' | 'truncated_record' | 'data_crc_mismatch';

/** A record failed its framing checks. `offset` is the byte offset of that record's header. */
export class TFRecordCorruptError extends Error {
  constructor(
    readonly kind: CorruptionKind,
    readonly offset: number,
    readonly recordIndex: number,
    readonly source: string,
    detail: string,
  ) {
    super(`corrupted TFRecord ${source}: record ${recordIndex} at byte offset ${offset}: ${detail}`);
    this.name = 'TFRecordCorruptError';
  }
}

export interface FramedRecord {
  /** Position in the file, from 0. */
  index: number;
  /** Byte offset of the record's header. */
  offset: number;
  /** Payload length. */
  length: number;
  /** Masked CRC32C of the length bytes, as stored. */
  lengthCrc: number;
  /** Masked CRC32C of the payload, as stored. */
  dataCrc: number;
  /** The payload (a view into the file buffer). */
  data: Buffer;
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/**
 * Reads every record of an uncompressed TFRecord body, verifying both CRCs of each one.
 * Throws {@link TFRecordCorruptError} at the first record that fails, naming its offset.
 */
export function* readFramedRecords(file: Buffer, source = '(buffer)'): Generator<FramedRecord> {
  let offset = 0;
  let index = 0;
  while (offset < file.length) {
    if (file.length - offset < HEADER_BYTES) {
      throw new TFRecordCorruptError(
        'truncated_header',
        offset,
        index,
        source,
        `${file.length - offset} bytes left, a header needs ${HEADER_BYTES}`,
      );
    }
    const lengthBig = file.readBigUInt64LE(offset);
    const lengthCrc = file.readUInt32LE(offset + 8);
    const expectedLengthCrc = maskedCrc32c(file.subarray(offset, offset + 8));
    if (lengthCrc !== expectedLengthCrc) {
      throw new TFRecordCorruptError(
        'length_crc_mismatch',
        offset,
        index,
        source,
        `length CRC is ${hex(lengthCrc)}, computed ${hex(expectedLengthCrc)}`,
      );
    }
    const remaining = file.length - offset - HEADER_BYTES - FOOTER_BYTES;
    if (lengthBig > BigInt(Math.max(remaining, 0))) {
      throw new TFRecordCorruptError(
        'truncated_record',
        offset,
        index,
        source,
        `record claims ${lengthBig} bytes, ${Math.max(remaining, 0)} remain`,
      );
    }
    const length = Number(lengthBig);
    const data = file.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length);
    const dataCrc = file.readUInt32LE(offset + HEADER_BYTES + length);
    const expectedDataCrc = maskedCrc32c(data);
    if (dataCrc !== expectedDataCrc) {
      throw new TFRecordCorruptError(
        'data_crc_mismatch',
        offset,
        index,
        source,
        `data CRC is ${hex(dataCrc)}, computed ${hex(expectedDataCrc)}`,
      );
    }
    yield { index, offset, length, lengthCrc, dataCrc, data };
    offset += framedLength(length);
    index += 1;
  }
}
