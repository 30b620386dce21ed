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

export async function pageRoutes(app: FastifyInstance, _opts: RouteOptions): Promise<void> {
  const dir = staticDir();
  for (const [route, { file, type }] of Object.entries(FILES)) {
    const body = await fs.readFile(path.join(dir, file));
    app.get(route, async (_req, reply) => reply.type(type).header('cache-control', 'no-cache').send(body));
  }
}
