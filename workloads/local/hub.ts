import Fastify, { FastifyInstance } from 'fastify';
import { LocalIdTokenIssuer, registerCertsRoute } from '../core/gcp/local-id-tokens';
import { NamedQueries, registerWarehouseRoutes } from '../core/warehouse/http-warehouse';
import type { Warehouse } from '../core/warehouse/warehouse';

/**
 * The hub: the `npm start` supervisor's server on 127.0.0.1. It owns the DuckDB file and
 * serves it to the other local processes (this run's token, named queries only), serves
 * the scheduler stand-in's certificates, and mounts the dashboard. Anything on the
 * machine can reach 127.0.0.1, including a web page that rebinds its own host name to it,
 * so the hub answers only requests addressed to its own address (the Host header).
 */
export interface HubOptions {
  warehouse: Warehouse;
  /** Bearer token of the warehouse routes (per run). */
  token: string;
  queries: NamedQueries;
  /** The local scheduler whose certificates the inference service verifies tokens with. */
  scheduler: LocalIdTokenIssuer;
  /** 0 picks a free port. */
  port: number;
  mount?: (app: FastifyInstance) => Promise<void>;
}

export interface Hub {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

export const SCHEDULER_CERTS_PATH = '/scheduler/certs';

export async function startHub(options: HubOptions): Promise<Hub> {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
  let ownHosts = new Set<string>();
  app.addHook('onRequest', async (req, reply) => {
    if (!ownHosts.has(req.headers.host ?? '')) {
      return reply.code(421).send({ message: 'this server answers requests for its own address only (127.0.0.1 or localhost)' });
    }
  });
  await registerWarehouseRoutes(app, options.warehouse, { token: options.token, queries: options.queries });
  registerCertsRoute(app, SCHEDULER_CERTS_PATH, options.scheduler);
  await options.mount?.(app);
  const url = await app.listen({ host: '127.0.0.1', port: options.port });
  const { port } = new URL(url);
  ownHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  return { app, url, close: () => app.close() };
}
