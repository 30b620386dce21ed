import { imageSize } from 'image-size';
import sharp, { type Sharp } from 'sharp';

/**
 * The one image module shared by the inference service and preprocessing, so an image is
 * judged and normalised the same way when it is served and when it is trained on.
 *
 * Accepts JPEG, PNG and WebP (by content, never by name or declared type); applies EXIF
 * orientation; flattens alpha onto white; converts grayscale and CMYK to sRGB; resizes.
 * Rejects empty, truncated, non-image, SVG and other formats, and images over the byte or
 * pixel limits (checked from the header before any pixels are decoded, so a
 * decompression bomb costs nothing).
 *
 * The header is read with `image-size` (pure JS, a few microseconds) rather than sharp's
 * `metadata()`: at 224×224 every libvips pipeline has a fixed cost of about 0.5 ms of CPU,
 * and a second pipeline per image was 10-15% of preprocessing's and serving's image work.
 * The decoding pipeline enforces the pixel limit again (`limitInputPixels`) and fails on
 * truncated data, so a header that lies is still caught.
 */

export const ACCEPTED_FORMATS = ['jpeg', 'png', 'webp'] as const;
export type ImageFormat = (typeof ACCEPTED_FORMATS)[number];

export type RejectReason =
  'empty' | 'too_large_bytes' | 'not_an_image' | 'unsupported_format' | 'too_many_pixels' | 'too_small' | 'corrupt';

export class ImageRejectedError extends Error {
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message);
    this.name = 'ImageRejectedError';
  }
}

export interface ImageLimits {
  maxBytes: number;
  maxPixels: number;
  minSide: number;
}

/** What the header says; width and height are as stored, before EXIF orientation. */
export interface ImageInfo {
  format: ImageFormat;
  width: number;
  height: number;
  orientation?: number;
}

/** Reads only the header and checks the limits. Throws {@link ImageRejectedError}. */
export async function inspectImage(data: Buffer, limits: ImageLimits): Promise<ImageInfo> {
  if (data.length === 0) throw new ImageRejectedError('empty', 'the file is empty: send a JPEG, PNG or WebP image');
  if (data.length > limits.maxBytes) {
    throw new ImageRejectedError('too_large_bytes', `the file is ${data.length} bytes; the limit is ${limits.maxBytes} bytes`);
  }
  const sniffed = sniffFormat(data);
  if (sniffed === 'svg') throw new ImageRejectedError('unsupported_format', 'SVG is not accepted: send a JPEG, PNG or WebP image');
  if (sniffed === undefined) throw new ImageRejectedError('not_an_image', 'the file is not an image: send a JPEG, PNG or WebP image');
  if (!(ACCEPTED_FORMATS as readonly string[]).includes(sniffed)) {
    throw new ImageRejectedError('unsupported_format', `${sniffed.toUpperCase()} is not accepted: send a JPEG, PNG or WebP image`);
  }
  let header: ReturnType<typeof imageSize>;
  try {
    header = imageSize(data);
  } catch (err) {
    throw new ImageRejectedError('corrupt', `the ${sniffed.toUpperCase()} image header cannot be read: ${(err as Error).message}`);
  }
  const { width, height } = header;
  if (width * height > limits.maxPixels) {
    throw new ImageRejectedError(
      'too_many_pixels',
      `the image is ${width}×${height} = ${width * height} pixels; the limit is ${limits.maxPixels} pixels`,
    );
  }
  if (width < limits.minSide || height < limits.minSide) {
    throw new ImageRejectedError('too_small', `the image is ${width}×${height}; each side must be at least ${limits.minSide} pixels`);
  }
  return { format: sniffed as ImageFormat, width, height, orientation: header.orientation };
}

/** Recognises formats by magic bytes; `undefined` means not an image at all. */
export function sniffFormat(data: Buffer): string | undefined {
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'jpeg';
  if (data.length >= 8 && data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (data.length >= 12 && data.toString('latin1', 0, 4) === 'RIFF' && data.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (data.length >= 6 && /^GIF8[79]a/.test(data.toString('latin1', 0, 6))) return 'gif';
  if (data.length >= 4 && (data.toString('latin1', 0, 4) === 'II*\0' || data.toString('latin1', 0, 4) === 'MM\0*')) return 'tiff';
  if (data.length >= 2 && data.toString('latin1', 0, 2) === 'BM') return 'bmp';
  if (data.length >= 12 && data.toString('latin1', 4, 8) === 'ftyp') return 'heif/avif';
  const head = data.toString('utf8', 0, Math.min(data.length, 512)).trimStart().toLowerCase();
  if (head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg'))) return 'svg';
  return undefined;
}

/** A pipeline that decodes strictly (truncated data fails) and yields upright sRGB without alpha. */
function uprightRgb(data: Buffer, limits: ImageLimits): Sharp {
  return sharp(data, { failOn: 'truncated', limitInputPixels: limits.maxPixels })
    .rotate() // applies EXIF orientation, then drops the tag
    .flatten({ background: { r: 255, g: 255, b: 255 } })
    .toColourspace('srgb');
}

export interface NormalizedPixels {
  /** RGB bytes, row-major, `size × size × 3`. */
  pixels: Buffer;
  size: number;
  info: ImageInfo;
}

/**
 * Validates and normalises an image into the model's input: `size × size` RGB bytes.
 * The whole image is squashed to a square (no crop), matching the training data.
 */
export async function toModelInput(data: Buffer, size: number, limits: ImageLimits): Promise<NormalizedPixels> {
  const info = await inspectImage(data, limits);
  try {
    const pixels = await uprightRgb(data, limits).resize(size, size, { fit: 'fill', kernel: 'lanczos3' }).removeAlpha().raw().toBuffer();
    if (pixels.length !== size * size * 3) throw new Error(`decoded ${pixels.length} bytes, expected ${size * size * 3}`);
    return { pixels, size, info };
  } catch (err) {
    if (err instanceof ImageRejectedError) throw err;
    throw new ImageRejectedError('corrupt', `the ${info.format.toUpperCase()} image cannot be decoded: ${(err as Error).message}`);
  }
}

/** Validates, normalises and re-encodes as a `size × size` JPEG (the stored training form). */
export async function toTrainingJpeg(
  data: Buffer,
  size: number,
  quality: number,
  limits: ImageLimits,
): Promise<{ jpeg: Buffer; info: ImageInfo }> {
  const info = await inspectImage(data, limits);
  try {
    const jpeg = await uprightRgb(data, limits)
      .resize(size, size, { fit: 'fill', kernel: 'lanczos3' })
      .removeAlpha()
      .jpeg({ quality, chromaSubsampling: '4:4:4', mozjpeg: false, optimiseCoding: false })
      .toBuffer();
    return { jpeg, info };
  } catch (err) {
    throw new ImageRejectedError('corrupt', `the ${info.format.toUpperCase()} image cannot be decoded: ${(err as Error).message}`);
  }
}

/**
 * The copy of an upload that is kept: upright sRGB, at most `maxSide` pixels on its longer
 * side (never enlarged), re-encoded as JPEG without metadata (no EXIF location, no
 * comments, nothing the client put in the file besides the picture).
 */
export async function boundedCopy(
  data: Buffer,
  maxSide: number,
  limits: ImageLimits,
): Promise<{ jpeg: Buffer; width: number; height: number }> {
  const { data: jpeg, info } = await uprightRgb(data, limits)
    .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
    .removeAlpha()
    .jpeg({ quality: 90, mozjpeg: false })
    .toBuffer({ resolveWithObject: true });
  return { jpeg, width: info.width, height: info.height };
}

/** Decodes a JPEG already normalised by {@link toTrainingJpeg} into RGB bytes. */
export async function decodeRgb(jpeg: Buffer, size: number): Promise<Buffer> {
  return sharp(jpeg).resize(size, size, { fit: 'fill' }).removeAlpha().toColourspace('srgb').raw().toBuffer();
}

export const FILE_EXTENSION: Record<ImageFormat, 'jpg' | 'png' | 'webp'> = { jpeg: 'jpg', png: 'png', webp: 'webp' };
