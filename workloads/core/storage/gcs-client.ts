import type { Storage } from '@google-cloud/storage';

let client: Storage | undefined;

/**
 * This thread's one GCS client, with Application Default Credentials (on Google Cloud: the
 * service account the service, job or pipeline step runs as). Loaded lazily so local runs
 * never pay for the client's start-up.
 */
export function gcsClient(): Storage {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  client ??= new (require('@google-cloud/storage') as typeof import('@google-cloud/storage')).Storage();
  return client;
}
