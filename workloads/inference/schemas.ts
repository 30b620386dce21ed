import { z } from 'zod';

/**
 * Parts of the service's answers that several routes share. Each route's own request and
 * response schemas are in its plugin (routes/*.ts); route types are derived from them
 * through fastify-type-provider-zod.
 */

export const topKEntry = z.object({ label: z.string(), display: z.string(), probability: z.number() });
export type TopKEntry = z.infer<typeof topKEntry>;

export const breedPrediction = z.object({ label: z.string(), display: z.string(), confidence: z.number() });

/** The open-set answer of POST /classify (predictor.ts `openSetAnswer`): a breed, a dog of none of our breeds, or not a dog. */
export const openSetAnswer = z.object({
  verdict: z.enum(['breed', 'unknown_breed', 'not_a_dog']),
  message: z.string(),
  dogProbability: z.number().nullable(),
});
export type OpenSetAnswer = z.infer<typeof openSetAnswer>;
