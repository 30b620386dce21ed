import { availableParallelism } from 'node:os';
import sharp from 'sharp';

/**
 * Process-wide settings for batch throughput, applied by the entry points (CLI, benchmark)
 * before any asynchronous work starts.
 *
 * - libuv's thread pool (default 4 threads) runs sharp's pipelines (and the local object
 *   store's large reads and its writes); 8 threads per core lets 16 images be in flight,
 *   so a pipeline waiting on libvips' handoffs never leaves a core idle. It must be set
 *   before the pool's first use, which is why this runs at the top of the entry module.
 * - sharp's operation cache only helps when the same input is processed twice; here every
 *   image is new, so it is turned off (same speed or better in bench:preprocess, less memory).
 */
export function tuneForBatchThroughput(): void {
  process.env.UV_THREADPOOL_SIZE ??= String(Math.min(64, 8 * availableParallelism()));
  sharp.cache(false);
}
