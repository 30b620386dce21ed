import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as http from 'node:http';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { LocalIdTokenIssuer } from '../workloads/core/gcp/local-id-tokens';
import { HOSTILE_TRICKS, INTERNAL_SECRET, UPSTREAM_SECRET } from '../workloads/core/test/hostile-dog-api';
import { rawKeys, spillKeys } from '../workloads/core/layout';
import { openDataLake } from '../workloads/core/storage/data-lake';
import { readJson } from '../workloads/core/storage/object-store';
import type { ServiceProcess } from '../workloads/inference/test/fixtures/process';
import { eventually } from '../workloads/inference/test/fixtures/service';
import { photosOf } from '../workloads/inference/test/fixtures/test-model';
import { hubQueries } from '../workloads/local/hub-queries';
import { runDrillMain, table } from './harness';
import { SERVICE_LIMITS, startTargets, type Targets } from './hostile-targets';

/**
 * drill:hostile (issue 14): every attack a hostile client or a fault would try, against a
 * local instance of the real service (main.ts as a process, behind one trusted proxy hop
 * as on Cloud Run, with per-client limits on), the `npm start` hub and a hostile Dog API.
 * Each row says what was tried, what must happen and what did; the drill fails when any
 * row does not pass. Clients are told apart by X-Forwarded-For, so each attack has an
 * address of its own and the limits of one never decide another's outcome.
 *
 * `short` (the CI version) sends fewer uploads in the crash and shutdown rows; every
 * attack is still tried.
 */
export interface HostileOptions {
  /** Uploads answered before the kill -9 (the warehouse down). */
  crashUploads: number;
  /** Uploads in flight when SIGTERM arrives (once with the warehouse up, once with it hanging). */
  loadUploads: number;
}
export const FULL: HostileOptions = { crashUploads: 40, loadUploads: 48 };
export const SHORT: HostileOptions = { crashUploads: 8, loadUploads: 12 };

export interface Attempt {
  attack: string;
  expected: string;
  happened: string;
  pass: boolean;
}

export interface HostileResult {
  rows: Attempt[];
  failed: number;
  /** SIGTERM → exit under load, in ms, with the warehouse up and hanging (Cloud Run kills at 10 000). */
  shutdownMs: Partial<Record<'up' | 'hang', number>>;
}

type Attack = (t: Targets, o: HostileOptions) => Promise<Attempt | Attempt[]>;

let clients = 0;
/**
 * A fresh client: Cloud Run's front end appends the address it saw (TEST-NET-2 here) to
 * X-Forwarded-For; whatever the client wrote itself comes before and is not trusted.
 */
const newClient = (): Record<string, string> => {
  const n = ++clients;
  return { 'x-forwarded-for': `10.0.0.1, 198.51.${100 + (n >> 8)}.${n & 255}` };
};

const jpeg = { 'content-type': 'image/jpeg' };
const postImage = (svc: ServiceProcess, bytes: Buffer, headers: Record<string, string> = newClient()) =>
  fetch(`${svc.url}/classify`, { method: 'POST', headers: { ...jpeg, ...headers }, body: bytes as unknown as BodyInit });
const photos = async (n: number): Promise<Buffer[]> => {
  const breeds = ['beagle', 'pug', 'samoyed'];
  const files = (await Promise.all(breeds.map((b) => photosOf(b, Math.ceil(n / breeds.length))))).flat().slice(0, n);
  return Promise.all(files.map((f) => fs.readFile(f)));
};
const count = (statuses: Array<number | string>): string =>
  [...new Set(statuses)]
    .sort()
    .map((s) => `${statuses.filter((x) => x === s).length}×${s}`)
    .join(', ');

const slowBody: Attack = async (t) => {
  const { port } = new URL(t.service.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  const received: Buffer[] = [];
  socket.on('data', (d) => received.push(d));
  const started = Date.now();
  const closed = new Promise<boolean>((r) => socket.on('close', () => r(true)));
  socket.on('error', () => undefined);
  socket.write('POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n');
  const trickle = setInterval(() => socket.writable && socket.write('x'), 200);
  const cut = await Promise.race([closed, new Promise<false>((r) => setTimeout(() => r(false), 5 * SERVICE_LIMITS.requestTimeoutMs))]);
  clearInterval(trickle);
  socket.destroy();
  const status = /^HTTP\/1\.1 (\d+)/.exec(Buffer.concat(received).toString())?.[1] ?? 'nothing';
  return {
    attack: 'slow body: 1 byte every 200 ms to POST /classify',
    expected: `408, disconnected after the request timeout (${SERVICE_LIMITS.requestTimeoutMs} ms)`,
    happened: cut
      ? `${status}, disconnected after ${Date.now() - started} ms`
      : `${status}, still connected after ${Date.now() - started} ms`,
    pass: cut && status === '408',
  };
};

/**
 * POSTs a body on a raw socket, 64 KB at a time, and stops sending once the server answers
 * (a server that refuses the body early closes the connection; writing on would make the
 * kernel reset it and drop the answer unread). Returns the status code.
 */
const postRaw = async (url: string, headers: Record<string, string>, body: string): Promise<{ status: string; sent: number }> => {
  const { hostname, port, pathname } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  const received: Buffer[] = [];
  socket.on('data', (d) => received.push(d));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  const head = Object.entries({
    host: `${hostname}:${port}`,
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
    ...headers,
  })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.write(`POST ${pathname} HTTP/1.1\r\n${head}\r\n`);
  let sent = 0;
  for (let at = 0; at < body.length && received.length === 0 && !socket.destroyed; at += 65_536) {
    const chunk = body.slice(at, at + 65_536);
    if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r).once('close', r));
    if (!socket.destroyed) sent += chunk.length;
  }
  await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000))]);
  socket.destroy();
  return { status: /^HTTP\/1\.1 (\d+)/.exec(Buffer.concat(received).toString())?.[1] ?? 'closed without an answer', sent };
};

const hugeJson: Attack = async (t) => {
  const nested = '['.repeat(7_000_000) + ']'.repeat(7_000_000);
  const sent = postRaw(`${t.service.url}/feedback`, { 'content-type': 'application/json', ...newClient() }, nested);
  const probeStarted = Date.now();
  const health = await fetch(`${t.service.url}/healthz`, { headers: newClient() });
  const probeMs = Date.now() - probeStarted;
  const { status, sent: bytes } = await sent;
  // A server that refuses a body unread closes the connection; when the client is still
  // sending, TCP resets it and the client may lose the 413 it was sent. Either way, unread.
  const cutShort = status === 'closed without an answer' && bytes < nested.length;
  return {
    attack: '14 MB nested JSON to POST /feedback',
    expected: '413 (or the connection closed before the body was sent) unread; /healthz answers meanwhile',
    happened: `${cutShort ? `connection closed after ${(bytes / 1e6).toFixed(1)} of ${(nested.length / 1e6).toFixed(0)} MB sent` : status}; /healthz ${health.status} in ${probeMs} ms`,
    pass: (status === '413' || cutShort) && health.status === 200,
  };
};

const unknownField: Attack = async (t) => {
  const res = await fetch(`${t.service.url}/feedback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...newClient() },
    body: JSON.stringify({ predictionId: 'no-such-prediction', correct: true, admin: true }),
  });
  const body = (await res.json()) as { reason?: string; message?: string };
  return {
    attack: 'unknown JSON field ("admin": true) in POST /feedback',
    expected: '400 invalid_body naming the field',
    happened: `${res.status} ${body.reason}${/admin/.test(body.message ?? '') ? ', names "admin"' : ''}`,
    pass: res.status === 400 && body.reason === 'invalid_body' && /admin/.test(body.message ?? ''),
  };
};

const longRequestId: Attack = async (t) => {
  const given = 'x'.repeat(12_000);
  const res = await fetch(`${t.service.url}/healthz`, { headers: { 'x-request-id': given, ...newClient() } });
  const id = res.headers.get('x-request-id') ?? '';
  const logged = t.service.lines.some((l) => l.includes(given));
  return {
    attack: '12,000-character x-request-id',
    expected: 'replaced by a generated id, never logged',
    happened: `${res.status}, id ${id.length} chars${id === given ? ' (kept!)' : ''}${logged ? ', logged' : ', not logged'}`,
    pass: res.status === 200 && id !== given && /^[0-9a-f-]{36}$/.test(id) && !logged,
  };
};

const pixelBomb: Attack = async (t) => {
  const bomb = await sharp({ create: { width: 7000, height: 7000, channels: 3, background: '#808080' } })
    .webp({ lossless: true })
    .toBuffer();
  const res = await fetch(`${t.service.url}/classify`, {
    method: 'POST',
    headers: { 'content-type': 'image/webp', ...newClient() },
    body: bomb as unknown as BodyInit,
  });
  const body = (await res.json()) as { reason?: string };
  return {
    attack: `49 MP lossless WebP (${(bomb.length / 1024).toFixed(1)} KB)`,
    expected: '413 too_many_pixels, refused from its header',
    happened: `${res.status} ${body.reason}`,
    pass: res.status === 413 && body.reason === 'too_many_pixels',
  };
};

const flood: Attack = async (t) => {
  const client = newClient();
  const n = SERVICE_LIMITS.perMinute + 10;
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push((await fetch(`${t.service.url}/healthz`, { headers: client })).status);
  // The same client writing other addresses of its own in front of the one the proxy appended.
  const real = client['x-forwarded-for'].split(', ').pop()!;
  const spoofed = (await fetch(`${t.service.url}/healthz`, { headers: { 'x-forwarded-for': `203.0.113.9, 192.0.2.44, ${real}` } })).status;
  const other = (await fetch(`${t.service.url}/healthz`, { headers: newClient() })).status;
  const ok =
    statuses.slice(0, SERVICE_LIMITS.perMinute).every((s) => s === 200) && statuses.slice(SERVICE_LIMITS.perMinute).every((s) => s === 429);
  return {
    attack: `flood: ${n} requests in a minute from one client, then with spoofed X-Forwarded-For entries`,
    expected: `${SERVICE_LIMITS.perMinute}×200 then 429, spoofed too; another client unaffected`,
    happened: `${count(statuses)}; spoofed ${spoofed}; another client ${other}`,
    pass: ok && spoofed === 429 && other === 200,
  };
};

const dailyQuota: Attack = async (t) => {
  const client = newClient();
  const n = SERVICE_LIMITS.uploadsPerDay + 3;
  const images = await photos(n);
  const statuses: number[] = [];
  for (const img of images) statuses.push((await postImage(t.service, img, client)).status);
  const ok =
    statuses.slice(0, SERVICE_LIMITS.uploadsPerDay).every((s) => s === 200) &&
    statuses.slice(SERVICE_LIMITS.uploadsPerDay).every((s) => s === 429);
  return {
    attack: `daily quota: ${n} uploads from one client`,
    expected: `${SERVICE_LIMITS.uploadsPerDay}×200 then 429`,
    happened: count(statuses),
    pass: ok,
  };
};

const internalRoutes: Attack = async (t) => {
  const svc = t.service;
  const { audience, serviceAccount } = svc.internal.ingestAuth;
  const tries: Array<[string, Record<string, string>, number]> = [
    ['GET /predict without a token', {}, 401],
    ['GET /status without a token', {}, 401],
    // Not a token for this service at all (its verification fails): 401, as without one.
    [
      'GET /predict, OIDC token for another audience',
      { authorization: `Bearer ${svc.internal.issuer.sign({ audience: 'https://evil.example', email: serviceAccount })}` },
      401,
    ],
    [
      'GET /predict, OIDC token of another service account',
      { authorization: `Bearer ${svc.internal.issuer.sign({ audience, email: 'attacker@evil.iam.gserviceaccount.com' })}` },
      403,
    ],
    [
      'GET /predict, token forged with another key',
      { authorization: `Bearer ${new LocalIdTokenIssuer().sign({ audience, email: serviceAccount })}` },
      401,
    ],
  ];
  const rows: Attempt[] = [];
  for (const [attack, headers, expected] of tries) {
    const route = attack.includes('/status') ? '/status' : '/predict';
    const res = await fetch(`${svc.url}${route}`, { headers: { ...headers, ...newClient() } });
    const text = await res.text();
    rows.push({
      attack,
      expected: `${expected}, nothing ingested`,
      happened: `${res.status}`,
      pass: res.status === expected && !/predictionId/.test(text),
    });
  }
  const images = await t.lake.raw.list('images/');
  rows[rows.length - 1].happened += `; ${images.length} images ingested`;
  rows[rows.length - 1].pass &&= images.length === 0;
  return rows;
};

const hostileDogApi: Attack = async (t) => {
  const fed = t.fedByHostileApi;
  const raw = openDataLake({ ...t.config, dataRoot: t.fedRoot }).raw;
  const what: Record<(typeof HOSTILE_TRICKS)[number], string> = {
    ssrf: 'image URL at an internal address',
    redirect: 'image URL redirecting to a metadata-like path',
    'plain-http': 'plain-http image URL',
    'error-body': 'API error with a secret in its body',
    breed: 'image of a breed nobody configured',
  };
  const rows: Attempt[] = [];
  for (const trick of HOSTILE_TRICKS) {
    t.hostile.trick = trick;
    const hitsBefore = t.hostile.internal.hits;
    const res = await fetch(`${fed.url}/predict`, { headers: fed.internal.headers() });
    const text = await res.text();
    const leaked = [INTERNAL_SECRET, UPSTREAM_SECRET, t.hostile.internal.url].some((s) => text.includes(s));
    const hits = t.hostile.internal.hits - hitsBefore;
    const stored = (await raw.list('images/')).length;
    rows.push({
      attack: `hostile Dog API: ${what[trick]}`,
      expected: '502 quoting nothing upstream; internal server not reached; nothing stored',
      happened: `${res.status}${leaked ? ', upstream content in the answer' : ''}; internal hits ${hits}; ${stored} stored`,
      pass: res.status === 502 && !leaked && hits === 0 && stored === 0,
    });
  }
  return rows;
};

/** A request to the hub with any Host header and token (fetch will not let one set Host). */
const hubRequest = (
  t: Targets,
  route: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; text: string }> =>
  new Promise((resolve, reject) => {
    const { port } = new URL(t.hub.url);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: route,
        method: payload ? 'POST' : 'GET',
        headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });

const localHub: Attack = async (t) => {
  const own = { host: new URL(t.hub.url).host, authorization: `Bearer ${t.hubToken}` };
  const pwned = path.join(t.root, 'pwned.csv');
  const named = Object.values(hubQueries(t.config)).find((sql) => sql.includes('@champion') && sql.includes('challenger_metrics'));
  const query = (sql: string, headers: Record<string, string> = own, params?: Record<string, string>) =>
    hubRequest(t, '/warehouse/query', headers, { sql, params });
  const tries: Array<[string, () => Promise<{ status: number; text: string }>, number]> = [
    ['hub: arbitrary SQL with the token (DROP TABLE)', () => query('DROP TABLE prediction_events'), 403],
    ["hub: read_text('/etc/passwd') with the token", () => query("SELECT content FROM read_text('/etc/passwd')"), 403],
    ['hub: COPY … TO a file with the token', () => query(`COPY (SELECT 1) TO '${pwned}'`), 403],
    ['hub: a named query, SQL in its parameter', () => query(named!, own, { champion: `x' ; COPY (SELECT 1) TO '${pwned}' ; --` }), 200],
    ['hub: no token', () => query(named!, { host: own.host }, { champion: 'x' }), 401],
    [
      'hub: wrong Host (DNS rebinding)',
      () => query(named!, { ...own, host: `evil.example:${new URL(t.hub.url).port}` }, { champion: 'x' }),
      421,
    ],
  ];
  const rows: Attempt[] = [];
  for (const [attack, send, expected] of tries) {
    const res = await send();
    const written = await fs.stat(pwned).then(
      () => true,
      () => false,
    );
    const etc = res.text.includes('root:');
    rows.push({
      attack,
      expected:
        expected === 200 ? '200, the parameter is a value (no rows); no file written' : `${expected}; no file written, nothing read`,
      happened: `${res.status}${expected === 200 ? `, ${(JSON.parse(res.text) as { rows?: unknown[] }).rows?.length ?? '?'} rows` : ''}${written ? ', FILE WRITTEN' : ''}${etc ? ', /etc/passwd read' : ''}`,
      pass: res.status === expected && !written && !etc,
    });
  }
  // Defence in depth: were the named-query check bypassed, DuckDB itself refuses files.
  const direct = await t.warehouse.inner.query("SELECT content FROM read_text('/etc/passwd')").then(
    () => 'ran',
    (err: Error) =>
      /disabled by configuration/i.test(err.message) ? 'refused: file system access is disabled' : `refused: ${err.message.slice(0, 60)}`,
  );
  rows.push({
    attack: "hub's DuckDB directly: read_text('/etc/passwd')",
    expected: 'refused (enable_external_access=false)',
    happened: direct,
    pass: direct === 'refused: file system access is disabled',
  });
  return rows;
};

/** prediction_events rows per prediction id (0 when absent). */
const rowsPer = async (t: Targets, ids: string[]): Promise<number[]> => {
  const rows = await t.warehouse.inner.query('SELECT prediction_id, COUNT(*) AS n FROM {{prediction_events}} GROUP BY prediction_id');
  const byId = new Map(rows.map((r) => [String(r.prediction_id), Number(r.n)]));
  return ids.map((id) => byId.get(id) ?? 0);
};
/** Waits (up to a crashed replayer's lease, 60 s, and a replay more) until every id has a row; how long it took. */
const allWrittenOnce = async (t: Targets, ids: string[]): Promise<{ once: number; missing: number; doubled: number; seconds: number }> => {
  const started = Date.now();
  const counts = await eventually(async () => {
    const c = await rowsPer(t, ids);
    return c.every((n) => n > 0) ? c : undefined;
  }, 90_000).catch(() => rowsPer(t, ids));
  return {
    once: counts.filter((n) => n === 1).length,
    missing: counts.filter((n) => n === 0).length,
    doubled: counts.filter((n) => n > 1).length,
    seconds: Math.round((Date.now() - started) / 1000),
  };
};
/** The answered predictions whose rows are in the object store (spilled batches and pending objects), and the leases held on batches. */
const spilled = async (t: Targets, ids: string[]): Promise<{ rows: number; leases: number }> => {
  const wanted = new Set(ids);
  let rows = 0;
  for (const prefix of [spillKeys.batchesPrefix, spillKeys.pendingPrefix])
    for (const obj of await t.lake.raw.list(prefix)) {
      const batch = await readJson<{ entries: Array<{ row: { prediction_id?: string } }> }>(t.lake.raw, obj.key);
      rows += (batch?.entries ?? []).filter((e) => e.row.prediction_id && wanted.has(e.row.prediction_id)).length;
    }
  return { rows, leases: (await t.lake.raw.list(spillKeys.leasesPrefix)).length };
};
const answeredIds = async (answers: Array<PromiseSettledResult<Response>>): Promise<string[]> => {
  const ids: string[] = [];
  for (const a of answers)
    if (a.status === 'fulfilled' && a.value.status === 200) ids.push(((await a.value.json()) as { predictionId: string }).predictionId);
  return ids;
};

const killDuringWrites: Attack = async (t, o) => {
  const first = t.service;
  t.warehouse.mode = 'down';
  // Uploads as traffic arrives (a few at a time), then kill -9 right after the last answer:
  // most rows are still queued for their first insert, before the sink has noticed the outage.
  // Each answered row must already be in the object store (written ahead, event-sink.ts).
  const answers: Array<PromiseSettledResult<Response>> = [];
  const all = await photos(o.crashUploads);
  for (let i = 0; i < all.length; i += 4) answers.push(...(await Promise.allSettled(all.slice(i, i + 4).map((p) => postImage(first, p)))));
  const ids = await answeredIds(answers);
  first.child.kill('SIGKILL');
  await first.exited;
  const before = (await rowsPer(t, ids)).filter((n) => n > 0).length;
  const inSpill = await spilled(t, ids);
  t.warehouse.mode = 'up';
  await t.restart();
  const after = await allWrittenOnce(t, ids);
  return {
    attack: `kill -9 right after the last of ${o.crashUploads} uploads (4 at a time) with the warehouse down; restart with it up`,
    expected: 'every answered upload a row exactly once (replayed from the object store)',
    happened:
      `${ids.length} answered; at the kill ${before} rows written, ${inSpill.rows} in the object store (${inSpill.leases} leases held); ` +
      `after the restart: ${after.once} once, ${after.missing} missing, ${after.doubled} doubled (${after.seconds} s)`,
    pass: ids.length === o.crashUploads && after.once === ids.length,
  };
};

/** SIGTERM→exit of the shutdown rows, by warehouse mode, in ms. */
const shutdownMs: Partial<Record<'up' | 'hang', number>> = {};
const sigtermUnderLoad =
  (warehouse: 'up' | 'hang'): Attack =>
  async (t, o) => {
    const svc = t.service;
    const records = async () => (await t.lake.raw.list(rawKeys.uploadsPrefix)).filter((u) => u.key.endsWith('.json')).length;
    const recordsBefore = await records();
    t.warehouse.mode = warehouse;
    const images = await photos(o.loadUploads);
    let signalled = 0;
    const answeredAt: number[] = [];
    const sent = images.map((p) =>
      postImage(svc, p).then((r) => {
        if (signalled) answeredAt.push(Date.now() - signalled);
        return r;
      }),
    );
    const settled = Promise.allSettled(sent); // refused connections are outcomes too, not crashes
    // Signal while the uploads are in flight (some answered, some decoding, some queued).
    await new Promise((r) => setTimeout(r, 150));
    signalled = Date.now();
    svc.child.kill('SIGTERM');
    const code = await svc.exited;
    const exitMs = Date.now() - signalled;
    shutdownMs[warehouse] = exitMs;
    const answers = await settled;
    const ids = await answeredIds(answers);
    // Unanswered: refused (the server had stopped listening) or cut (a connection closed before an answer: the
    // client may retry, as long as the service stored nothing for it).
    const statuses = answers.map((a) =>
      a.status === 'fulfilled'
        ? String(a.value.status)
        : (a.reason as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED'
          ? 'refused'
          : 'cut',
    );
    const stopped = svc.lines.find((l) => l.includes('"inference_stopped"'));
    const reported = stopped ? (JSON.parse(stopped.trim()) as { shutdown_ms?: number }).shutdown_ms : undefined;
    // Uploads the service stored: a request cut without an answer must not have been one of them.
    const stored = (await records()) - recordsBefore;
    t.warehouse.mode = 'up';
    await t.restart();
    const after = await allWrittenOnce(t, ids);
    return {
      attack: `SIGTERM with ${o.loadUploads} uploads in flight, the warehouse ${warehouse === 'up' ? 'up' : 'hanging'}`,
      expected:
        "exit 0 inside Cloud Run's 10 s; every answered upload a row exactly once" + (warehouse === 'hang' ? ' (after replay)' : ''),
      happened:
        `exit ${code} after ${exitMs} ms (the service's own count ${reported ?? '?'} ms; last answer +${Math.max(0, ...answeredAt)} ms); ` +
        `answers ${count(statuses)}; ${stored} uploads stored; rows: ${after.once} once, ${after.missing} missing, ${after.doubled} doubled (${after.seconds} s after the restart)`,
      pass: code === 0 && exitMs < 10_000 && ids.length > 0 && stored === ids.length && after.once === ids.length,
    };
  };

/** In order: the service's own limits first, the crash and shutdown rows last (they restart it). */
const ATTACKS: Attack[] = [
  slowBody,
  hugeJson,
  unknownField,
  longRequestId,
  pixelBomb,
  flood,
  dailyQuota,
  internalRoutes,
  hostileDogApi,
  localHub,
  killDuringWrites,
  sigtermUnderLoad('up'),
  sigtermUnderLoad('hang'),
];

export async function hostileDrill(o: HostileOptions, say: (line: string) => void = () => undefined): Promise<HostileResult> {
  for (const k of Object.keys(shutdownMs)) delete shutdownMs[k as 'up' | 'hang'];
  const t = await startTargets();
  const rows: Attempt[] = [];
  try {
    for (const attack of ATTACKS) {
      let got: Attempt[];
      try {
        const r = await attack(t, o);
        got = Array.isArray(r) ? r : [r];
      } catch (err) {
        got = [{ attack: attack.name, expected: 'handled', happened: `the drill failed: ${(err as Error).message}`, pass: false }];
      }
      for (const r of got) say(`${r.pass ? 'pass' : 'FAIL'}  ${r.attack}: ${r.happened}`);
      rows.push(...got);
    }
  } finally {
    await t.close();
  }
  return { rows, failed: rows.filter((r) => !r.pass).length, shutdownMs: { ...shutdownMs } };
}

export function formatHostile(r: HostileResult): string {
  return [
    table(
      ['attempt', 'expected', 'what happened', 'result'],
      r.rows.map((x) => [x.attack, x.expected, x.happened, x.pass ? 'pass' : 'FAIL']),
    ),
    `${r.rows.length - r.failed} of ${r.rows.length} attempts handled; SIGTERM→exit under load: ${r.shutdownMs.up ?? '—'} ms with the warehouse up, ${r.shutdownMs.hang ?? '—'} ms with it hanging`,
  ].join('\n');
}

if (require.main === module) {
  const { values } = parseArgs({ options: { short: { type: 'boolean', default: false } } });
  runDrillMain(
    `drill:hostile${values.short ? ' --short' : ''}`,
    async (say) => {
      const r = await hostileDrill(values.short ? SHORT : FULL, say);
      if (r.failed) process.exitCode = 1;
      return r;
    },
    formatHostile,
  );
}
