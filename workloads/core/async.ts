/** Small promise helpers shared by the workloads. */

/**
 * Rejects with `onTimeout()` when `work` takes longer than `ms`. The work itself is not
 * cancelled (sharp, a warehouse insert): its late result is dropped, and a late failure
 * is not an unhandled rejection.
 */
export function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  work.catch(() => undefined);
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
