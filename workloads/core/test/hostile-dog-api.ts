import Fastify, { FastifyInstance } from 'fastify';

/**
 * A Dog API that attacks its client, and an "internal" server it points the client at
 * (standing in for a metadata server or an internal service). Each trick is one base
 * URL: `${api.url}/<trick>` is a Dog CEO API whose random image answer is hostile.
 *  - ssrf:       the image URL is the internal server
 *  - redirect:   the image URL is on the API's own origin, and redirects to the internal server
 *  - plain-http: the image URL is http://images.dog.ceo (not https)
 *  - error-body: the API answers 500 with a secret in the body
 *  - breed:      every image is of a breed nobody configured
 * `internal.hits` counts requests that reached the internal server: it must stay 0.
 * `${api.url}` itself plays `api.trick` (settable), for a client whose base URL is fixed.
 */
export const HOSTILE_TRICKS = ['ssrf', 'redirect', 'plain-http', 'error-body', 'breed'] as const;
export type HostileTrick = (typeof HOSTILE_TRICKS)[number];

export const INTERNAL_SECRET = 'INTERNAL-SECRET-4d1f';
export const UPSTREAM_SECRET = 'UPSTREAM-SECRET-9a7c';

export interface HostileDogApi {
  url: string;
  /** What the API at `url` (no trick in the path) does. */
  trick: HostileTrick;
  internal: { url: string; hits: number };
  close(): Promise<void>;
}

export async function startHostileDogApi(): Promise<HostileDogApi> {
  const internalApp = Fastify();
  const internal = { url: '', hits: 0 };
  internalApp.all('/*', async (_req, reply) => {
    internal.hits++;
    // An error answer with a body: a careless client quotes it in its own error.
    return reply.code(403).type('application/json').send({ message: INTERNAL_SECRET });
  });
  internal.url = await internalApp.listen({ host: '127.0.0.1', port: 0 });

  const api: FastifyInstance = Fastify();
  let self = '';
  const hostile: HostileDogApi = {
    url: '',
    trick: 'ssrf',
    internal,
    close: async () => {
      await api.close();
      await internalApp.close();
    },
  };
  const imageUrl = (trick: HostileTrick): string => {
    switch (trick) {
      case 'ssrf':
        return `${internal.url}/breeds/beagle/computeMetadata.jpg`;
      case 'redirect':
        return `${self}/redirect/breeds/beagle/n02088364_1.jpg`;
      case 'plain-http':
        return 'http://images.dog.ceo/breeds/beagle/n02088364_1.jpg';
      case 'breed':
        return `${self}/breed/breeds/wolf-grey/n0_1.jpg`;
      default:
        return '';
    }
  };
  const randomImage = async (trick: HostileTrick, reply: import('fastify').FastifyReply) => {
    if (trick === 'error-body') return reply.code(500).type('text/plain').send(`upstream failure; ${UPSTREAM_SECRET}`);
    return { status: 'success', message: imageUrl(trick) };
  };
  api.get<{ Params: { trick: HostileTrick } }>('/:trick/api/breeds/image/random', async (req, reply) =>
    randomImage(req.params.trick, reply),
  );
  api.get<{ Params: { trick: HostileTrick } }>('/:trick/api/breed/*', async (req, reply) => randomImage(req.params.trick, reply));
  api.get('/api/breeds/image/random', async (_req, reply) => randomImage(hostile.trick, reply));
  api.get('/api/breed/*', async (_req, reply) => randomImage(hostile.trick, reply));
  api.get('/redirect/breeds/*', async (_req, reply) =>
    reply.redirect(`${internal.url}/computeMetadata/v1/instance/service-accounts/default/token`, 302),
  );
  api.get('/breed/breeds/*', async (_req, reply) => reply.type('image/jpeg').send(Buffer.alloc(16)));
  self = await api.listen({ host: '127.0.0.1', port: 0 });
  hostile.url = self;
  return hostile;
}
