/* eslint-disable @typescript-eslint/no-explicit-any -- provider inputs are untyped JSON */
import { readFileSync } from 'node:fs';
import type { MockRun, PlannedResource } from '../../stacks/mock-run';

/**
 * What a stack declares for Google Cloud to run, read from a mocked `pulumi up` (every
 * resource's inputs as the program sent them): the Cloud Run services and job with their
 * containers, the Cloud Scheduler calls, the pipeline spec object, the buckets, the
 * BigQuery tables, the invoker and executor grants. The first-boot test starts exactly this.
 */
export interface HttpProbe {
  path: string;
  port: number;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
  initialDelaySeconds: number;
}

export interface Container {
  image: string;
  /** Cloud Run `commands` (the image's ENTRYPOINT override); empty: the image's default. */
  command: string[];
  args: string[];
  env: Record<string, string>;
}

export interface DeclaredService {
  /** Logical name (`inference-service`) and the Cloud Run service name. */
  resource: string;
  name: string;
  /** The URL the provider reports (what Scheduler jobs call). */
  uri: string;
  /** Every URL the service answers on (an OIDC audience may name any of them). */
  urls: string[];
  serviceAccount: string;
  container: Container;
  containerPort: number;
  startupProbe: HttpProbe;
  livenessProbe?: HttpProbe;
  /** Members with roles/run.invoker. */
  invokers: string[];
}

export interface DeclaredJob {
  name: string;
  serviceAccount: string;
  container: Container;
  taskCount: number;
  parallelism: number;
  maxRetries: number;
  /** role → members, on this job. */
  grants: Record<string, string[]>;
}

export interface DeclaredCall {
  name: string;
  schedule: string;
  method: string;
  uri: string;
  body?: string;
  /** The identity the token is minted for, and the token's audience. */
  serviceAccount: string;
  audience: string;
}

export interface DeclaredTable {
  dataset: string;
  table: string;
  fields: Array<{ name: string; type: string }>;
}

export interface Deployment {
  project: string;
  region: string;
  services: DeclaredService[];
  job?: DeclaredJob;
  calls: DeclaredCall[];
  /** Objects `pulumi up` uploads (the pipeline spec, the backbone's files): bucket, key, content type, content. */
  objects: Array<{ bucket: string; name: string; contentType: string; content: string | Buffer }>;
  buckets: string[];
  tables: DeclaredTable[];
}

const ofType = (run: MockRun, type: string): PlannedResource[] => run.resources.filter((r) => r.type === type);
const envOf = (envs: Array<{ name: string; value: string }> | undefined): Record<string, string> =>
  Object.fromEntries((envs ?? []).map((e) => [e.name, e.value]));

function probe(p: any, what: string): HttpProbe {
  if (!p?.httpGet?.path) throw new Error(`${what}: only HTTP probes are modelled, got ${JSON.stringify(p)}`);
  // Cloud Run's defaults for fields a probe leaves out.
  return {
    path: p.httpGet.path,
    port: p.httpGet.port ?? 8080,
    periodSeconds: p.periodSeconds ?? 10,
    timeoutSeconds: p.timeoutSeconds ?? 1,
    failureThreshold: p.failureThreshold ?? 3,
    initialDelaySeconds: p.initialDelaySeconds ?? 0,
  };
}

function container(c: any): Container {
  return { image: c.image, command: c.commands ?? [], args: c.args ?? [], env: envOf(c.envs) };
}

export function deploymentOf(run: MockRun, project: string): Deployment {
  const services = ofType(run, 'gcp:cloudrunv2/service:Service').map((s): DeclaredService => {
    const t = s.inputs.template as any;
    if (t.containers.length !== 1) throw new Error(`${s.name}: ${t.containers.length} containers; the test models one`);
    const c = t.containers[0];
    const ports = Array.isArray(c.ports) ? c.ports[0] : c.ports;
    return {
      resource: s.name,
      name: s.inputs.name as string,
      uri: s.state.uri as string,
      urls: (s.state.urls as string[] | undefined) ?? [s.state.uri as string],
      serviceAccount: t.serviceAccount,
      container: container(c),
      containerPort: ports?.containerPort ?? 8080,
      startupProbe: probe(
        c.startupProbe ?? { httpGet: { path: '/' }, periodSeconds: 240, failureThreshold: 1, timeoutSeconds: 240 },
        s.name,
      ),
      livenessProbe: c.livenessProbe ? probe(c.livenessProbe, s.name) : undefined,
      invokers: ofType(run, 'gcp:cloudrunv2/serviceIamMember:ServiceIamMember')
        .filter((b) => b.inputs.name === s.inputs.name && b.inputs.role === 'roles/run.invoker')
        .map((b) => b.inputs.member as string),
    };
  });
  const jobRes = ofType(run, 'gcp:cloudrunv2/job:Job')[0];
  let job: DeclaredJob | undefined;
  if (jobRes) {
    const t = jobRes.inputs.template as any;
    const grants: Record<string, string[]> = {};
    for (const b of ofType(run, 'gcp:cloudrunv2/jobIamMember:JobIamMember').filter((b) => b.inputs.name === jobRes.inputs.name))
      (grants[b.inputs.role as string] ??= []).push(b.inputs.member as string);
    job = {
      name: jobRes.inputs.name as string,
      serviceAccount: t.template.serviceAccount,
      container: container(t.template.containers[0]),
      taskCount: t.taskCount ?? 1,
      parallelism: t.parallelism ?? 0,
      maxRetries: t.template.maxRetries ?? 3,
      grants,
    };
  }
  const calls = ofType(run, 'gcp:cloudscheduler/job:Job').map((j): DeclaredCall => {
    const h = j.inputs.httpTarget as any;
    return {
      name: j.name,
      schedule: j.inputs.schedule as string,
      method: h.httpMethod,
      uri: h.uri,
      body: h.body ? Buffer.from(h.body, 'base64').toString('utf8') : undefined,
      serviceAccount: h.oidcToken?.serviceAccountEmail,
      audience: h.oidcToken?.audience,
    };
  });
  const objects = ofType(run, 'gcp:storage/bucketObject:BucketObject').map((o) => ({
    bucket: o.inputs.bucket as string,
    name: o.inputs.name as string,
    contentType: (o.inputs.contentType as string | undefined) ?? 'application/octet-stream',
    content: objectContent(o),
  }));
  const tables = ofType(run, 'gcp:bigquery/table:Table').map((t) => ({
    dataset: t.inputs.datasetId as string,
    table: t.inputs.tableId as string,
    fields: (JSON.parse(t.inputs.schema as string) as Array<{ name: string; type: string }>).map(({ name, type }) => ({ name, type })),
  }));
  return {
    project,
    region: ofType(run, 'gcp:cloudrunv2/service:Service')[0]?.inputs.location as string,
    services,
    job,
    calls,
    objects,
    buckets: ofType(run, 'gcp:storage/bucket:Bucket').map((b) => b.inputs.name as string),
    tables,
  };
}

/** What `pulumi up` would upload for an object: its `content`, or the bytes of its file asset `source`. */
function objectContent(o: PlannedResource): string | Buffer {
  if (typeof o.inputs.content === 'string') return o.inputs.content;
  const source = o.inputs.source as { asset?: string; path?: string } | undefined;
  if (source?.asset === 'file' && source.path) return readFileSync(source.path);
  throw new Error(`bucket object ${o.name}: only string content and file assets are modelled, got ${JSON.stringify(o.inputs.source)}`);
}
