import type { FastifyInstance } from 'fastify';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { RouteOptions } from '../app';

/**
 * The web page: plain HTML, CSS and JavaScript from ./static (no build step), read once
 * when the app is built. From compiled JavaScript (dist/...) the files are found in the
 * source tree, which the container image copies along.
 */
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/static/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/static/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

export function staticDir(): string {
  const candidates = [path.join(__dirname, '..', 'static'), path.resolve(__dirname, '../../../../workloads/inference/static')];
  const found = candidates.find((d) => existsSync(path.join(d, 'index.html')));
  if (!found) throw new Error(`the web page files are missing: looked for index.html in ${candidates.join(' and ')}`);
  return found;
}

export async function pageRoutes(app: FastifyInstance, _opts: RouteOptions): Promise<void> {
  const dir = staticDir();
  for (const [route, { file, type }] of Object.entries(FILES)) {
    const body = await fs.readFile(path.join(dir, file));
    app.get(route, async (_req, reply) => reply.type(type).header('cache-control', 'no-cache').send(body));
  }
}
