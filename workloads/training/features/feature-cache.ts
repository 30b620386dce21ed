import { createHash, randomBytes } from 'node:crypto';
import { modelKeys } from '../../core/layout';
import type { BackboneSpec } from '../../core/model/backbones';
import type { ObjectStore } from '../../core/storage/object-store';
import { fromFloat16, toFloat16 } from './float16';

/**
 * Trunk activations cached by image content, so each cycle only runs the backbone on
 * images (and augmented variants) it has never seen. Lives in the models bucket under
 * `modelKeys.featureCache(<trunk key>)`, as append-only chunk objects (one per extraction round):
 * never rewritten, each written atomically, so a crash loses at most the round in flight
 * and GCS sees a handful of objects rather than one per image.
 *
 * Chunk format: u32le header length, JSON header {entries, size}, then float16 rows.
 */

export function trunkKey(spec: BackboneSpec): string {
  // The URL's last path segments identify the weights; the directory part differs
  // between machines for the same file, so it is left out.
  const where = spec.url.split('/').slice(-2).join('/');
  return createHash('sha256')
    .update(JSON.stringify([spec.name, where, spec.cut, spec.inputSize, spec.outputShape]))
    .digest('hex')
    .slice(0, 16);
}

interface ChunkHeader {
  entries: string[];
  size: number;
}

export class FeatureCache {
  private readonly rows = new Map<string, Float32Array>();
  private loaded = false;

  constructor(
    private readonly store: ObjectStore | null,
    readonly spec: BackboneSpec,
  ) {}

  get prefix(): string {
    return modelKeys.featureCache(trunkKey(this.spec));
  }

  get size(): number {
    return this.spec.outputShape.reduce((a, b) => a * b, 1);
  }

  async load(): Promise<void> {
    if (this.loaded || !this.store) return;
    this.loaded = true;
    for (const o of await this.store.list(this.prefix)) {
      if (!o.key.endsWith('.bin')) continue;
      const buf = await this.store.read(o.key);
      const headerLen = buf.readUInt32LE(0);
      const header = JSON.parse(buf.subarray(4, 4 + headerLen).toString('utf8')) as ChunkHeader;
      if (header.size !== this.size) continue; // a different trunk shape: not ours
      const start = 4 + headerLen;
      // Copy to an aligned buffer: the header length makes the float16 data unaligned.
      const bytes = Buffer.from(buf.subarray(start, start + header.entries.length * header.size * 2));
      const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
      header.entries.forEach((id, i) => {
        this.rows.set(id, fromFloat16(halves.subarray(i * header.size, (i + 1) * header.size)));
      });
    }
  }

  get(id: string): Float32Array | undefined {
    return this.rows.get(id);
  }

  has(id: string): boolean {
    return this.rows.has(id);
  }

  /**
   * Adds rows (stored as float16, so what later readers get is the rounded value: the
   * caller keeps using the rounded rows too, so a first run and a cached rerun train on
   * identical numbers) and persists them as one chunk.
   */
  async add(ids: string[], data: Float32Array): Promise<void> {
    if (ids.length === 0) return;
    const halves = toFloat16(data);
    ids.forEach((id, i) => this.rows.set(id, fromFloat16(halves.subarray(i * this.size, (i + 1) * this.size))));
    if (!this.store) return;
    const header = Buffer.from(JSON.stringify({ entries: ids, size: this.size } satisfies ChunkHeader), 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(header.length, 0);
    const body = Buffer.from(halves.buffer, halves.byteOffset, halves.byteLength);
    const name = `${new Date().toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}.bin`;
    await this.store.write(`${this.prefix}${name}`, Buffer.concat([len, header, body]), { ifGenerationMatch: '0' });
  }
}
