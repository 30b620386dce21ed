import type { FastifyInstance } from 'fastify';
import { BREEDS, displayName } from '../../core/dogapi/breeds';
import type { InferenceContext, RouteOptions } from '../app';

/** Labels a person may give: the known breeds plus any the serving models know (a grown label set). */
export function knownLabels(ctx: InferenceContext): Array<{ label: string; display: string }> {
  const { set, release } = ctx.models.acquire();
  release();
  const labels = new Set([...BREEDS.map((b) => b.label), ...(set.champion?.labels ?? []), ...(set.challenger?.labels ?? [])]);
  return [...labels].map((label) => ({ label, display: displayName(label) })).sort((a, b) => a.display.localeCompare(b.display));
}

export async function labelRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get('/labels', async () => ({ labels: knownLabels(ctx) }));
}
