import type { FastifyInstance } from 'fastify';
import { Row, TableName, TABLES } from './tables';
import { QueryRow, reviveRows, serializeRows, Value, Warehouse } from './warehouse';

/**
 * Locally, DuckDB lets only one process open the warehouse file. The process that owns
 * it (the `npm start` supervisor) serves it with {@link registerWarehouseRoutes}; pipeline
 * steps and the inference service reach it through {@link HttpWarehouse}.
 */
export class HttpWarehouse implements Warehouse {
  constructor(private readonly baseUrl: string) {}

  async insert<T extends TableName>(table: T, rows: Row<T>[]): Promise<void> {
    await this.post('/warehouse/insert', { table, rows: serializeRows(rows as Record<string, unknown>[]) });
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
        headers: { 'content-type': 'application/json' },
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

export async function registerWarehouseRoutes(app: FastifyInstance, warehouse: Warehouse): Promise<void> {
  app.post<{ Body: { table: TableName; rows: Record<string, unknown>[] } }>(
    '/warehouse/insert',
    {
      bodyLimit: 64 * 1024 * 1024,
      schema: {
        body: {
          type: 'object',
          required: ['table', 'rows'],
          properties: { table: { type: 'string', enum: Object.keys(TABLES) }, rows: { type: 'array', items: { type: 'object' } } },
        },
      },
    },
    async (req, reply) => {
      try {
        await warehouse.insert(req.body.table, reviveRows(req.body.table, req.body.rows));
      } catch (err) {
        return reply.code(400).send({ message: (err as Error).message });
      }
      return { inserted: req.body.rows.length };
    },
  );
  app.post<{ Body: { sql: string; params?: Record<string, Value> } }>(
    '/warehouse/query',
    { schema: { body: { type: 'object', required: ['sql'], properties: { sql: { type: 'string' }, params: { type: 'object' } } } } },
    async (req, reply) => {
      try {
        return { rows: await warehouse.query(req.body.sql, req.body.params ?? {}) };
      } catch (err) {
        return reply.code(400).send({ message: (err as Error).message });
      }
    },
  );
}
