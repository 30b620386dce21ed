import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { Row, TableName, TABLES } from './tables';
import { checkInsertIds, InsertOptions, QueryRow, reviveRows, serializeRows, Value, Warehouse } from './warehouse';

/**
 * Locally, DuckDB lets only one process open the warehouse file. The process that owns
 * it (the `npm start` supervisor) serves it with {@link registerWarehouseRoutes}; pipeline
 * steps and the inference service reach it through {@link HttpWarehouse}.
 *
 * The owner listens on 127.0.0.1, but any local process or web page could send it
 * requests, so it serves only the callers it started (a per-run bearer token) and only
 * the statements it knows ({@link NamedQueries}): a query is run when its text is one of
 * them, by name. Its DuckDB has file and network access off (duckdb-warehouse.ts).
 */
export class HttpWarehouse implements Warehouse {
  constructor(
    private readonly baseUrl: string,
    private readonly token = '',
  ) {}

  async insert<T extends TableName>(table: T, rows: Row<T>[], options?: InsertOptions): Promise<void> {
    checkInsertIds(rows, options);
    await this.post('/warehouse/insert', { table, rows: serializeRows(rows as Record<string, unknown>[]), insertIds: options?.insertIds });
  }

  async query(sql: string, params: Record<string, Value> = {}): Promise<QueryRow[]> {
    const res = (await this.post('/warehouse/query', { sql, params })) as { rows: QueryRow[] };
    return res.rows;
  }

  async close(): Promise<void> {}

  private async post(route: string, body: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(new URL(route, this.baseUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        body: JSON.stringify(body),
      });
    } catch (err) {
      // fetch says only "fetch failed": name the warehouse and the cause (ECONNREFUSED, ...).
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(
        `warehouse at ${this.baseUrl} is unreachable (POST ${route}): ${cause?.code ?? cause?.message ?? (err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const text = await res.text();
    if (!res.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        /* plain-text error */
      }
      throw new Error(`warehouse at ${this.baseUrl} answered ${res.status}: ${message}`);
    }
    return JSON.parse(text);
  }
}

/** The statements a warehouse owner runs for other processes: name → SQL text (with `{{table}}` and `@param`). */
export type NamedQueries = Readonly<Record<string, string>>;

export interface WarehouseRoutesOptions {
  /** The bearer token every request must carry (made per run by the owner). */
  token: string;
  /** The only statements served; any other SQL is refused (403). */
  queries: NamedQueries;
}

export async function registerWarehouseRoutes(app: FastifyInstance, warehouse: Warehouse, options: WarehouseRoutesOptions): Promise<void> {
  if (options.token.length < 16) throw new Error('the warehouse routes need a token of at least 16 characters');
  const expected = Buffer.from(`Bearer ${options.token}`);
  const nameOf = new Map(Object.entries(options.queries).map(([name, sql]) => [sql.trim(), name]));
  const authorized = async (req: FastifyRequest, reply: FastifyReply) => {
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return reply.code(401).send({ message: 'the warehouse serves the processes of this run only: send its token (warehouse.token)' });
    }
  };

  app.post<{ Body: { table: TableName; rows: Record<string, unknown>[]; insertIds?: string[] } }>(
    '/warehouse/insert',
    {
      onRequest: authorized,
      bodyLimit: 64 * 1024 * 1024,
      schema: {
        body: {
          type: 'object',
          required: ['table', 'rows'],
          properties: {
            table: { type: 'string', enum: Object.keys(TABLES) },
            rows: { type: 'array', items: { type: 'object' } },
            insertIds: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 128 } },
          },
        },
      },
    },
    async (req, reply) => {
      try {
        await warehouse.insert(req.body.table, reviveRows(req.body.table, req.body.rows), { insertIds: req.body.insertIds });
      } catch (err) {
        return reply.code(400).send({ message: (err as Error).message });
      }
      return { inserted: req.body.rows.length };
    },
  );
  app.post<{ Body: { sql: string; params?: Record<string, Value> } }>(
    '/warehouse/query',
    {
      onRequest: authorized,
      schema: { body: { type: 'object', required: ['sql'], properties: { sql: { type: 'string' }, params: { type: 'object' } } } },
    },
    async (req, reply) => {
      const name = nameOf.get(req.body.sql.trim());
      if (!name) {
        return reply.code(403).send({
          message: `not a named query: this warehouse runs only the ${nameOf.size} statements it was given (workloads/local/hub-queries.ts)`,
        });
      }
      try {
        return { rows: await warehouse.query(req.body.sql, req.body.params ?? {}) };
      } catch (err) {
        req.log.warn({ err, query: name }, 'named query failed');
        return reply.code(400).send({ message: `query ${name} failed: ${(err as Error).message}` });
      }
    },
  );
}
