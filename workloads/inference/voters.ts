import { createHash, randomBytes } from 'node:crypto';
import { rawKeys } from '../core/layout';
import { type ObjectStore, PreconditionFailedError, readJson, writeJson } from '../core/storage/object-store';

/**
 * Who gave a label, pseudonymously: a keyed hash of the client's address, so "k independent
 * users agree" can count distinct voters and one client's many uploads of a photo count
 * once, without storing addresses. The key is random, made once per stack in the raw
 * bucket (if-absent, so replicas agree), so the ids cannot be reversed by hashing every
 * address. Behind Cloud Run the address is the client's only when the app trusts the
 * front end's X-Forwarded-For (fastify `trustProxy`).
 */
export function voterIds(raw: ObjectStore): (address: string) => Promise<string> {
  let key: Promise<string> | undefined;
  const load = async (): Promise<string> => {
    const existing = await readJson<{ key?: string }>(raw, rawKeys.voterKey);
    if (existing?.key) return existing.key;
    try {
      const made = randomBytes(32).toString('hex');
      await writeJson(raw, rawKeys.voterKey, { key: made, createdAt: new Date().toISOString() }, { ifGenerationMatch: '0' });
      return made;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      const winner = await readJson<{ key?: string }>(raw, rawKeys.voterKey);
      if (!winner?.key) throw new Error(`${raw.uri(rawKeys.voterKey)} exists but holds no key`, { cause: err });
      return winner.key;
    }
  };
  return async (address) => {
    key ??= load().catch((err: unknown) => {
      key = undefined;
      throw err;
    });
    return `v-${createHash('sha256')
      .update(`${await key}:${address}`)
      .digest('hex')
      .slice(0, 20)}`;
  };
}
