import { gcsClient } from './gcs-client';
import { GcsObjectStore } from './gcs-object-store';
import type { ObjectStore } from './object-store';

const GS_URI = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])\/(.+)$/;

/**
 * `gs://<bucket>/<key>` → the bucket as an {@link ObjectStore} and the key: how a workload
 * reads an object it is given by URI (the stack's backbone upload), with its own account.
 */
export function objectAt(uri: string): { store: ObjectStore; key: string } {
  const m = GS_URI.exec(uri);
  if (!m) throw new Error(`invalid object URI ${JSON.stringify(uri)}: expected gs://<bucket>/<key>`);
  return { store: new GcsObjectStore(gcsClient(), m[1]), key: m[2] };
}
