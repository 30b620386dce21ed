import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BREEDS, displayName } from '../../core/dogapi/breeds';
import type { InferenceContext } from '../context';

const labelEntry = z.object({ label: z.string(), display: z.string() });

/** Labels a person may give: the known breeds plus any the serving models know (a grown label set). */
export function knownLabels({ models }: Pick<InferenceContext, 'models'>): Array<z.infer<typeof labelEntry>> {
  const { set, release } = models.acquire();
  release();
  const labels = new Set([...BREEDS.map((b) => b.label), ...(set.champion?.labels ?? []), ...(set.challenger?.labels ?? [])]);
  return [...labels].map((label) => ({ label, display: displayName(label) })).sort((a, b) => a.display.localeCompare(b.display));
}

/** `GET /labels`: the labels the page offers for a correction. */
export const labelRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/labels', { schema: { response: { 200: z.object({ labels: z.array(labelEntry) }) } } }, async () => ({
    labels: knownLabels(app.inference),
  }));
};
