import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local HTTP stand-in for a Google REST API (Vertex AI, Cloud Run Admin): records every
 * request (method, URL, bearer header, JSON body) and answers what the test's responder
 * says, so clients are tested on their real HTTP code paths without the network.
 */
export interface SeenRequest {
  method: string;
  url: string;
  authorization?: string;
  body: unknown;
}

export type Responder = (req: SeenRequest) => [status: number, body: unknown];

export interface RestStandIn {
  base: string;
  close(): Promise<void>;
}

/** Starts on a free port; requests are appended to `seen` and answered by `respond`. */
export async function startRestStandIn(seen: SeenRequest[], respond: Responder): Promise<RestStandIn> {
  const server = createServer((req: IncomingMessage, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const s: SeenRequest = {
        method: req.method!,
        url: req.url!,
        authorization: req.headers.authorization,
        body: data ? JSON.parse(data) : undefined,
      };
      seen.push(s);
      const [status, body] = respond(s);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
