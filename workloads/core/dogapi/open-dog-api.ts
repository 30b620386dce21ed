import * as path from 'node:path';
import type { WorkloadConfig } from '../config/schema';
import { DogCeoClient } from './dog-ceo-client';
import { LocalDogApi, startLocalDogApi } from './local-dog-api';

/** The configured dog image source: a client, and the local server behind it when there is one. */
export interface DogApi {
  client: DogCeoClient;
  baseUrl: string;
  /** The local server this process started (config dogApi.baseUrl empty), else undefined. */
  local?: LocalDogApi;
  /** Stops the local server, if this process started one. */
  close(): Promise<void>;
}

export interface OpenDogApiOptions {
  /** Relative dogApi.datasetDir is resolved against this (default: the current directory). */
  cwd?: string;
  /** Seed for the local server's random picks (tests). */
  seed?: number;
}

/**
 * Opens the dog image source the config names: the Dog CEO API at dogApi.baseUrl, or, when
 * that is empty, a local server with the same API over dogApi.datasetDir started here.
 */
export async function openDogApi(config: Pick<WorkloadConfig, 'dogApi' | 'images'>, options: OpenDogApiOptions = {}): Promise<DogApi> {
  const clientFor = (baseUrl: string) =>
    new DogCeoClient({ baseUrl, timeoutMs: config.dogApi.timeoutMs, maxImageBytes: config.images.maxBytes });
  if (config.dogApi.baseUrl) {
    return { client: clientFor(config.dogApi.baseUrl), baseUrl: config.dogApi.baseUrl, close: async () => undefined };
  }
  const local = await startLocalDogApi({
    datasetDir: path.resolve(options.cwd ?? process.cwd(), config.dogApi.datasetDir),
    seed: options.seed,
  });
  return { client: clientFor(local.url), baseUrl: local.url, local, close: () => local.close() };
}
