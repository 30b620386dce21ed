import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import referencePhash from 'sharp-phash';
import { hammingDistance, perceptualHash } from '../dataset/perceptual-hash';

const DOGS = path.resolve(__dirname, '../../../../shared/datasets/dogs');
const photos = (breed: string, n: number): Buffer[] =>
  readdirSync(path.join(DOGS, breed))
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, n)
    .map((f) => readFileSync(path.join(DOGS, breed, f)));

const toHex = (bits: string): string =>
  bits
    .match(/.{4}/g)!
    .map((b) => parseInt(b, 2).toString(16))
    .join('');

describe('perceptualHash', () => {
  const sample = [...photos('beagle', 12), ...photos('pug', 12), ...photos('samoyed', 12)];

  it('is bit for bit the hash of sharp-phash (the reference implementation)', async () => {
    for (const photo of sample) expect(await perceptualHash(photo)).toBe(toHex(await referencePhash(photo)));
  });

  it('keeps near-duplicates within a few bits, and different photos far apart', async () => {
    const [photo] = sample;
    const h = await perceptualHash(photo);
    const variants = [
      Buffer.concat([photo, Buffer.from('appended bytes change the SHA-256, not the picture')]),
      await sharp(photo).jpeg({ quality: 60 }).toBuffer(),
      await sharp(photo).resize(180).toBuffer(),
      await sharp(photo).webp({ quality: 70 }).toBuffer(),
      await sharp(photo).modulate({ brightness: 1.08 }).toBuffer(),
    ];
    for (const v of variants) expect(hammingDistance(h, await perceptualHash(v))).toBeLessThanOrEqual(4);
    const hashes = await Promise.all(sample.map((p) => perceptualHash(p)));
    let closest = 64;
    for (let i = 0; i < hashes.length; i++)
      for (let j = i + 1; j < hashes.length; j++) closest = Math.min(closest, hammingDistance(hashes[i], hashes[j]));
    expect(closest).toBeGreaterThan(10);
  });

  it('counts differing bits', () => {
    expect(hammingDistance('0000000000000000', 'ffffffffffffffff')).toBe(64);
    expect(hammingDistance('8000000000000001', '0000000000000000')).toBe(2);
    expect(hammingDistance('0123456789abcdef', '0123456789abcdef')).toBe(0);
  });
});
