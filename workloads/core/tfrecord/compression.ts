import { gunzipSync, gzipSync } from 'node:zlib';

/**
 * TFRecord files are optionally GZIP-compressed as a whole (TensorFlow's
 * `TFRecordOptions(compression_type='GZIP')`, a zlib stream with a gzip header), which
 * node's zlib reads and writes. Record offsets refer to the uncompressed stream.
 */
export type TFRecordCompression = 'NONE' | 'GZIP';

const GZIP_MAGIC = [0x1f, 0x8b];

export function compress(body: Buffer, compression: TFRecordCompression): Buffer {
  return compression === 'GZIP' ? gzipSync(body, { level: 6 }) : body;
}

export function decompress(file: Buffer, compression: TFRecordCompression, source = '(buffer)'): Buffer {
  if (compression === 'NONE') return file;
  if (file[0] !== GZIP_MAGIC[0] || file[1] !== GZIP_MAGIC[1]) {
    throw new Error(`TFRecord ${source} was expected to be GZIP-compressed but does not start with the gzip magic bytes 1f 8b`);
  }
  try {
    return gunzipSync(file);
  } catch (err) {
    throw new Error(`TFRecord ${source} is not a valid GZIP stream: ${(err as Error).message}`, { cause: err });
  }
}
