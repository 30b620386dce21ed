import { crc32 } from '@node-rs/crc32';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { rawKeys } from '../../core/layout';
import { runPreprocessing } from '../run';
import { dogPhotos, type Lake, putLabelled, tempLake, testOptions } from './fixtures';

/** An empty zlib stream: libvips wants an IDAT chunk before it reports a PNG's header. */
const EMPTY_ZLIB = Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);

/** A PNG whose header claims 100000×100000 pixels (a decompression bomb; only the header is ever read). */
function pngBomb(): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(100_000, 0);
  ihdr.writeUInt32BE(100_000, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', EMPTY_ZLIB),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('bad raw objects are skipped with their reason and never stop the run', () => {
  let lake: Lake;
  const good = dogPhotos(['beagle'], 3);
  beforeAll(async () => {
    lake = tempLake();
    for (const p of good) await putLabelled(lake.raw, p.id, readFileSync(p.file), p.label);
    const photo = readFileSync(good[0].file);
    const gif = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#888' } })
      .gif()
      .toBuffer();
    await putLabelled(lake.raw, 'empty', Buffer.alloc(0), 'beagle');
    await putLabelled(lake.raw, 'truncated', photo.subarray(0, Math.floor(photo.length / 2)), 'beagle');
    await putLabelled(lake.raw, 'text', Buffer.from('this is not an image\n'), 'beagle');
    await putLabelled(lake.raw, 'vector', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'), 'beagle');
    await putLabelled(lake.raw, 'animated', gif, 'beagle');
    await putLabelled(lake.raw, 'bomb', pngBomb(), 'beagle', {}, 'png');
    await putLabelled(lake.raw, 'unknown-label', photo, 'Not A Breed!');
    await lake.raw.write(rawKeys.label('broken-json'), '{"id": "broken-json", ');
    await putLabelled(lake.raw, 'swapped', photo, 'beagle', { sha256: 'f'.repeat(64) });
  });
  afterAll(() => lake.cleanup());

  it('counts each kind under its reason, logs the URI, and writes the good photos', async () => {
    const summary = await runPreprocessing(lake, testOptions());
    expect(summary.written).toBe(3);
    const byUri = Object.fromEntries(summary.skips.map((s) => [s.uri.replace(/^.*\/raw\//, ''), s.reason]));
    expect(byUri).toEqual({
      'images/empty.jpg': 'empty',
      'images/truncated.jpg': 'corrupt',
      'images/text.jpg': 'not_an_image',
      'images/vector.jpg': 'unsupported_format',
      'images/animated.jpg': 'unsupported_format',
      'images/bomb.png': 'too_many_pixels',
      'labels/unknown-label.json': 'invalid_label',
      'labels/broken-json.json': 'malformed_label_json',
      'images/swapped.jpg': 'sha256_mismatch',
    });
    expect(summary.skipped).toEqual({
      corrupt: 1,
      empty: 1,
      invalid_label: 1,
      malformed_label_json: 1,
      not_an_image: 1,
      sha256_mismatch: 1,
      too_many_pixels: 1,
      unsupported_format: 2,
    });
    const messages = summary.skips.map((s) => s.message).join('\n');
    expect(messages).toMatch(/GIF is not accepted/);
    expect(messages).toMatch(/SVG is not accepted/);
    expect(messages).toMatch(/label: must be a snake_case breed label/);
    const manifest = JSON.parse((await lake.datasets.read(`versions/${summary.version}/manifest.json`)).toString());
    expect(manifest.counts.skipped).toEqual(summary.skipped);
  });
});
