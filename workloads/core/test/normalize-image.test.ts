import sharp from 'sharp';
import { pngClaiming, realJpeg, unusualImages } from '../../inference/test/fixtures/images';
import { ImageRejectedError, inspectImage, toModelInput, toTrainingJpeg } from '../images/normalize-image';

const LIMITS = { maxBytes: 10 * 1024 * 1024, maxPixels: 50_000_000, minSide: 8 };

/** The header is read without libvips; the decoding pipeline must still catch what a header hides. */
describe('inspectImage reads the header only', () => {
  test('it agrees with libvips on size, format and orientation for every accepted kind of image', async () => {
    const cases = { 'real JPEG': { bytes: await realJpeg() }, ...(await unusualImages()) };
    for (const [name, { bytes }] of Object.entries(cases)) {
      const meta = await sharp(bytes).metadata();
      const info = await inspectImage(bytes, LIMITS);
      expect({ name, format: info.format, width: info.width, height: info.height }).toEqual({
        name,
        format: meta.format,
        width: meta.width,
        height: meta.height,
      });
      expect({ name, orientation: info.orientation ?? 1 }).toEqual({ name, orientation: meta.orientation ?? 1 });
    }
  });

  test('a JPEG cut before its frame header is refused as corrupt, naming the format', async () => {
    const photo = await realJpeg();
    const sof = [0xc0, 0xc1, 0xc2].map((m) => photo.indexOf(Buffer.from([0xff, m]))).find((i) => i > 0)!;
    const err = await inspectImage(photo.subarray(0, sof), LIMITS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageRejectedError);
    expect(err).toMatchObject({ reason: 'corrupt', message: expect.stringMatching(/^the JPEG image header cannot be read/) });
  });

  test('a header within the limits over data that does not decode passes inspection but not decoding', async () => {
    const liar = pngClaiming(100, 100);
    await expect(inspectImage(liar, LIMITS)).resolves.toMatchObject({ format: 'png', width: 100, height: 100 });
    for (const decode of [() => toTrainingJpeg(liar, 64, 90, LIMITS), () => toModelInput(liar, 64, LIMITS)]) {
      await expect(decode()).rejects.toMatchObject({ name: 'ImageRejectedError', reason: 'corrupt' });
    }
  });
});
