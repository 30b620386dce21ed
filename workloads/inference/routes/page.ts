import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

/**
 * The web page: plain HTML, CSS and JavaScript from ./static (no build step), served by
 * @fastify/static: `/` is index.html, `/static/*` the rest. Revalidated on every load
 * (no-cache + ETag), so a new release is seen at once. From compiled JavaScript (dist/...)
 * the files are found in the source tree, which the container image copies along.
 */
export function staticDir(): string {
  // Sources: ./static next to routes/. Compiled (dist/.../workloads/inference/routes): the
  // source tree's workloads/inference/static, found by walking up.
  const tried: string[] = [];
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    for (const candidate of [path.join(dir, 'static'), path.join(dir, 'workloads', 'inference', 'static')]) {
      tried.push(candidate);
      if (existsSync(path.join(candidate, 'index.html'))) return candidate;
    }
    if (path.dirname(dir) === dir) break;
  }
  throw new Error(`the web page files are missing: no index.html in ${tried.slice(0, 4).join(', ')}, ...`);
}

export const pageRoutes: FastifyPluginAsync = async (app) => {
  await app.register(fastifyStatic, {
    root: staticDir(),
    prefix: '/static/',
    index: false,
    dotfiles: 'ignore',
    cacheControl: false,
    setHeaders: (reply) => void reply.header('cache-control', 'no-cache'),
  });
  app.get('/', async (_req, reply) => reply.sendFile('index.html'));
};
