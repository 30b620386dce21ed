import { z } from 'zod';

/**
 * Parts of the service's answers that several routes share. Each route's own request and
 * response schemas are in its plugin (routes/*.ts); route types are derived from them
 * through fastify-type-provider-zod.
 */

export const topKEntry = z.object({ label: z.string(), display: z.string(), probability: z.number() });
export type TopKEntry = z.infer<typeof topKEntry>;

export const breedPrediction = z.object({ label: z.string(), display: z.string(), confidence: z.number() });
