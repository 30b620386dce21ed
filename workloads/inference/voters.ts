import { createHash } from 'node:crypto';
import { rawKeys } from '../core/layout';
import type { ObjectStore } from '../core/storage/object-store';
import { stackKey } from '../core/storage/stack-key';

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
  return async (address) => {
    key ??= stackKey(raw, rawKeys.voterKey).catch((err: unknown) => {
      key = undefined;
      throw err;
    });
    return `v-${createHash('sha256')
      .update(`${await key}:${address}`)
      .digest('hex')
      .slice(0, 20)}`;
  };
}
