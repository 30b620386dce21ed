import * as http from 'node:http';
import { AddressInfo } from 'node:net';

/** A localhost port that was free a moment ago: nothing listens there. */
export async function closedPort(): Promise<number> {
  const spare = http.createServer();
  await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r));
  const port = (spare.address() as AddressInfo).port;
  await new Promise((r) => spare.close(r));
  return port;
}
