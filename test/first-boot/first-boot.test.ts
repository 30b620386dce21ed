import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { key, runMocked, stackConfigFromYaml } from '../../stacks/mock-run';
import { startLocalDogApi } from '../../workloads/core/dogapi/local-dog-api';
import { IMAGE_USER } from '../../workloads/core/entry-points';
import { MODEL_FILES, modelKeys, rawKeys } from '../../workloads/core/layout';
import { ZERO_SHOT } from '../../workloads/core/model/model-zero';
import { GcsStandIn } from '../../workloads/core/test/gcs-stand-in';
import { buildImage, type Image, livenessProbe, type RunningContainer, startContainer, startupProbe } from './containers';
import { type DeclaredService, deploymentOf } from './deployment';
import {
  startBigQueryOnDuckDb,
  startCloudRunJobsStandIn,
  startGoogleCertsStandIn,
  startMetadataServer,
  startVertexStandIn,
} from './stand-ins';
import { LocalIdTokenIssuer } from '../../workloads/core/gcp/local-id-tokens';
import { canSwitchUser } from '../../pipeline-specs/runner/image-user';

/**
 * First boot of a fresh stack, the way Google Cloud would run it (issue 12 item b).
 *
 * From the mocked `pulumi up` of the dev stack, it takes every Cloud Run service's and the
 * Cloud Run job's container (command, args, env, port, probes) and the pipeline spec object
 * exactly as declared, starts the services from a build of the one workload image, as the
 * image's user (containers.ts), against local stand-ins of the Google APIs, holds each to its
 * startup probe's budget (a revision whose probe never passes fails), makes the declared
 * Cloud Scheduler calls (checking their OIDC audience and invoker grant), and lets the
 * trigger submit the pipeline to a Vertex AI stand-in that runs the spec on Vertex's
 * contract (no output folder created for a step). It passes when the fresh stack serves
 * model zero (the declared backbone's ImageNet head, loaded from the objects `pulumi up`
 * uploads) before any pipeline run, then has ingested photos and promoted and serves its
 * first trained model.
 *
 * What the test sets, beyond the declarations: stack config where the stack allows it (the
 * dog API URL points at a local server; a small slice of photos, thresholds and training
 * settings so it runs in minutes), Cloud Run's and Vertex's runtime variables (PORT,
 * K_SERVICE…, CLOUD_RUN_TASK_INDEX…, CLOUD_ML_PROJECT_ID…), and one redirect per Google API to
 * its stand-in (STORAGE_EMULATOR_HOST, BIGQUERY_EMULATOR_HOST, GCE_METADATA_HOST, and the API
 * endpoints the workloads' config names for Vertex AI and Cloud Run).
 */
const REPO = path.resolve(__dirname, '../..');
const SHARED = path.resolve(REPO, '../shared');
const maybe = process.env.CV_E2E ? describe : describe.skip;

/** Stack config: Pulumi.dev.yaml, with the sections the test sets merged over it. */
function devConfig(over: Record<string, unknown>): Record<string, string> {
  const cfg = stackConfigFromYaml('dev');
  for (const [k, v] of Object.entries(over)) {
    const current = cfg[key(k)] ? (JSON.parse(cfg[key(k)]) as Record<string, unknown>) : {};
    cfg[key(k)] = JSON.stringify(typeof v === 'object' && v && !Array.isArray(v) ? { ...current, ...v } : v);
  }
  return cfg;
}

/** A slice of the shared photos: `breeds` breeds, `perBreed` photos each (symlinked). */
async function photoSlice(dir: string, breeds: number, perBreed: number): Promise<string> {
  const dogs = path.join(SHARED, 'datasets', 'dogs');
  for (const breed of (await fs.readdir(dogs)).sort().slice(0, breeds)) {
    await fs.mkdir(path.join(dir, breed), { recursive: true });
    for (const f of (await fs.readdir(path.join(dogs, breed))).sort().slice(0, perBreed))
      await fs.symlink(path.join(dogs, breed, f), path.join(dir, breed, f));
  }
  return dir;
}

const until = async <T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>, everyMs = 1000): Promise<T> => {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
};

maybe('first boot of a fresh dev stack, as Google Cloud runs it', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  const containers: RunningContainer[] = [];
  afterAll(async () => {
    await Promise.all(containers.map((c) => c.stop()));
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  test('services pass their startup probes, model zero answers from the uploaded backbone, Scheduler calls ingest photos, the pipeline runs on Vertex’s contract, the champion the gate picks is served', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-first-boot-'));
    cleanups.push(() => fs.rm(tmp, { recursive: true, force: true }));

    // Outside Google Cloud: the Dog CEO API, as a local server.
    const photos = await photoSlice(path.join(tmp, 'dogs'), 4, 25);
    const dogApi = await startLocalDogApi({ datasetDir: photos, seed: 7 });
    cleanups.push(() => dogApi.close());

    // The stack as `pulumi up` would create it (mocked), with config the stack accepts.
    const config = devConfig({
      dogApi: { baseUrl: dogApi.url },
      trigger: { minNewLabelled: 60 },
      training: { epochs: 4, workers: 1, augment: { variants: 0 } },
      gate: { minTestExamples: 5 },
      inference: { workers: 1, pointerPollMs: 1000 },
      preprocessingJob: { tasks: 2 },
      preprocessing: { cloudRunJob: { pollSeconds: 1 } },
    });
    const run = await runMocked({ stack: 'dev', config });
    const project = config['gcp:project'];
    const d = deploymentOf(run, project);
    const image = d.services[0].container.image;
    for (const s of d.services) expect([s.name, s.container.image]).toEqual([s.name, image]);
    // The declared backbone (Pulumi.dev.yaml), from the copy `pulumi up` uploads to the models bucket.
    const inference = d.services.find((s) => s.resource === 'inference-service')!;
    const modelsBucket = d.buckets.find((b) => b.endsWith('-models'))!;
    expect([inference.container.env.CV_MODEL_BACKBONE, inference.container.env.CV_MODEL_BACKBONE_URL]).toEqual([
      'mobilenet_v2_100',
      expect.stringMatching(new RegExp(`^gs://${modelsBucket}/${modelKeys.backbonesPrefix}[0-9a-f]{32}/mobilenet_v2_100$`)),
    ]);

    // Google APIs, local.
    const gcs = new GcsStandIn({ pageSize: 1000 });
    await gcs.start();
    cleanups.push(() => gcs.stop());
    // What `pulumi up` uploads: the pipeline spec, and the declared backbone's files.
    for (const o of d.objects) gcs.put(o.bucket, o.name, o.content, o.contentType);
    const bq = await startBigQueryOnDuckDb(d.tables);
    cleanups.push(() => bq.close());
    const identities = new Set(
      [...d.services.map((s) => s.serviceAccount), d.job?.serviceAccount, pipelineAccount(d)].filter(Boolean) as string[],
    );
    const metadata = new Map<string, string>();
    for (const email of identities) {
      const m = await startMetadataServer(project, email);
      cleanups.push(() => m.close());
      metadata.set(email, m.host);
    }

    // Google's ID-token issuer: Cloud Scheduler's OIDC tokens, verified by the service as on Cloud Run.
    const issuer = new LocalIdTokenIssuer();
    const googleCerts = await startGoogleCertsStandIn(issuer);
    cleanups.push(() => googleCerts.close());

    const built: Image = await buildImage();
    cleanups.push(() => built.remove());
    let vertexUrl = '';
    let runAdminUrl = '';
    /** A container's environment: the image's ENV, the declared env, the platform's variables, the API redirects (HOME is the image user's: containers.ts, the runner). */
    const containerEnv = (declared: Record<string, string>, runAs: string, platform: Record<string, string>): Record<string, string> => ({
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...built.env,
      ...declared,
      ...platform,
      STORAGE_EMULATOR_HOST: gcs.url,
      BIGQUERY_EMULATOR_HOST: `${bq.url}/bigquery/v2`,
      GCE_METADATA_HOST: metadata.get(runAs)!,
      METADATA_SERVER_DETECTION: 'assume-present',
      CV_PIPELINE_API_ENDPOINT: vertexUrl,
      CV_PREPROCESSING_CLOUD_RUN_JOB_API_ENDPOINT: runAdminUrl,
      CV_INFERENCE_INGEST_AUTH_CERTS_URL: googleCerts.url,
    });

    if (d.job) {
      const jobs = await startCloudRunJobsStandIn({ project, region: d.region, job: d.job, image: built, taskEnv: containerEnv });
      cleanups.push(() => jobs.close());
      runAdminUrl = jobs.url;
    }
    const trigger = d.services.find((s) => s.resource === 'trigger-service')!;
    // The pipeline bucket as Vertex mounts it for a step (/gcs/…): within the image user's reach (not under `tmp`, 0700).
    const pipelineRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-first-boot-vertex-root-'));
    cleanups.push(() => fs.rm(pipelineRoot, { recursive: true, force: true }));
    const vertex = await startVertexStandIn({
      project,
      region: d.region,
      image: built,
      imageRef: image,
      caller: trigger.serviceAccount,
      runAs: pipelineAccount(d),
      stepEnv: (declared, runAs, jobId) =>
        containerEnv(declared, runAs, { CLOUD_ML_PROJECT_ID: project, CLOUD_ML_REGION: d.region, CLOUD_ML_JOB_ID: jobId }),
      pipelineRoot,
    });
    cleanups.push(() => vertex.close());
    vertexUrl = vertex.url;

    // Cloud Run starts each service's first revision: the startup probe decides whether it serves.
    const bases = new Map<string, string>();
    for (const s of d.services) {
      expect([s.name, s.startupProbe.port]).toEqual([s.name, s.containerPort]);
      const port = await freePort();
      const platform = { PORT: String(port), K_SERVICE: s.name, K_REVISION: `${s.name}-00001-fb1`, K_CONFIGURATION: s.name };
      const c = startContainer(built, s.name, s.container, containerEnv(s.container.env, s.serviceAccount, platform));
      containers.push(c);
      bases.set(s.name, `http://127.0.0.1:${port}`);
    }
    const outcomes = await Promise.all(
      d.services.map(async (s) => ({
        s,
        c: containers.find((c) => c.name === s.name)!,
        o: await startupProbe(
          bases.get(s.name)!,
          s.startupProbe,
          containers.find((c) => c.name === s.name)!,
        ),
      })),
    );
    for (const { s, c, o } of outcomes) {
      if (!o.passed) {
        throw new Error(
          `revision ${s.name}-00001 failed: startup probe GET ${s.startupProbe.path} did not pass ${o.attempts} time(s) in ${o.seconds.toFixed(0)} s ` +
            `(budget ${s.startupProbe.periodSeconds * s.startupProbe.failureThreshold} s); last answer: ${o.last}\n--- ${s.name}, last lines ---\n${c.tail(8)}`,
        );
      }
    }
    // Every container runs as the image's user when this test can switch to it (as root, as in CI).
    const switched = canSwitchUser();
    if (switched) for (const c of containers) expect([c.name, await realUidOf(c.child.pid!)]).toEqual([c.name, IMAGE_USER.uid]);
    const liveness = d.services
      .filter((s) => s.livenessProbe)
      .map((s) => ({
        s,
        w: livenessProbe(
          bases.get(s.name)!,
          s.livenessProbe!,
          containers.find((c) => c.name === s.name)!,
        ),
      }));

    // Model zero: the fresh stack answers /classify before any pipeline run, from the backbone
    // the stack uploaded (the inference service creates and promotes it on an empty registry).
    // Which model serves is for the scheduler's identity (internal GET /status); /readyz only says ready or not.
    const scheduler = d.calls.find((c) => c.uri.endsWith('/predict'))!;
    const asScheduler = { authorization: `Bearer ${issuer.sign({ audience: scheduler.audience!, email: scheduler.serviceAccount! })}` };
    const zero = await until('the inference service to serve model zero', 180_000, async () => {
      if ((await fetch(`${bases.get(inference.name)}/readyz`)).status !== 200) return undefined;
      const r = (await (await fetch(`${bases.get(inference.name)}/status`, { headers: asScheduler })).json()) as {
        champion?: string | null;
      };
      return r.champion ?? undefined;
    });
    const complete = gcs.objects.get(`${modelsBucket}/${modelKeys.file(zero, MODEL_FILES.complete)}`);
    expect(JSON.parse(complete!.data.toString('utf8'))).toMatchObject({ kind: ZERO_SHOT });
    const breed = (await fs.readdir(photos)).sort()[0];
    const photo = await fs.readFile(path.join(photos, breed, (await fs.readdir(path.join(photos, breed))).sort()[0]));
    const classified = await fetch(`${bases.get(inference.name)}/classify`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: new Uint8Array(photo),
    });
    expect(classified.status).toBe(200);
    expect(((await classified.json()) as { modelVersion: string }).modelVersion).toBe(zero);
    expect(vertex.runs.size).toBe(0);
    const backboneReads = gcs.requests.filter((r) => decodeURIComponent(r.path).includes(`/${modelKeys.backbonesPrefix}`));
    expect(backboneReads.length).toBeGreaterThan(0);

    // Cloud Scheduler's calls, as declared: each to a declared service's URL, with an OIDC token for that URL.
    const call = async (name: string): Promise<Response> => {
      const j = d.calls.find((c) => c.name === name)!;
      const target = d.services.find((s) => j.uri.startsWith(`${s.uri}/`));
      if (!target) throw new Error(`scheduler job ${name} calls ${j.uri}, which is no declared service's URL`);
      expect([name, target.urls]).toEqual([name, expect.arrayContaining([j.audience])]);
      expect(target.invokers).toContain(`serviceAccount:${j.serviceAccount}`);
      return fetch(`${bases.get(target.name)}${j.uri.slice(target.uri.length)}`, {
        method: j.method,
        headers: {
          authorization: `Bearer ${issuer.sign({ audience: j.audience!, email: j.serviceAccount! })}`,
          ...(j.body ? { 'content-type': 'application/octet-stream' } : {}),
        },
        body: j.body,
      });
    };
    const ingest = d.calls.filter((c) => c.uri.endsWith('/predict')).map((c) => c.name);
    expect(ingest.length).toBeGreaterThan(0);
    const rawBucket = d.buckets.find((b) => b.endsWith('-raw'))!;
    const labels = (): number => [...gcs.objects.keys()].filter((k) => k.startsWith(`${rawBucket}/${rawKeys.labelsPrefix}`)).length;
    await until(
      '60 labelled photos in the raw bucket',
      300_000,
      async () => {
        const answers = await Promise.all(ingest.map(call)); // one tick: every ingestion job once
        for (const a of answers) if (a.status !== 200) throw new Error(`GET /predict answered ${a.status}: ${await a.text()}`);
        return labels() >= 60 ? true : undefined;
      },
      0,
    );

    // The retraining check: the trigger decides and submits the pipeline to "Vertex AI".
    const check = await call('schedules-retrain-check');
    const decision = (await check.json()) as { fired: boolean; runId?: string; reason: string };
    expect(vertex.refused).toEqual([]);
    expect(decision).toMatchObject({ fired: true });
    const result = await vertex.runs.get(decision.runId!)!;
    expect(result.error ?? '').toBe('');
    // The first trained challenger is judged against model zero: promoted only when the gate
    // finds it significantly better on the held-out photos (on this small slice it may not be).
    const verdict = result.steps.find((s) => s.task === 'evaluate')?.outputs.decision;
    const steps = result.steps.map((s) => `${s.task}: ${s.status}${s.error ? ` ${s.error}` : ''}`).join('\n');
    expect(steps).toBe(
      [
        ...['check-trigger', 'preprocess', 'train', 'evaluate'].map((t) => `${t}: succeeded`),
        `promote: ${verdict === 'promote' ? 'succeeded' : 'skipped'}`,
      ].join('\n'),
    );
    const champion = verdict === 'promote' ? (result.steps.find((s) => s.task === 'promote')!.outputs.production_version as string) : zero;
    if (verdict !== 'promote') expect(verdict).toBe('reject');
    // The steps ran as the image's user too: their output folders, which they created, are its.
    if (switched) expect((await fs.stat(path.join(pipelineRoot, decision.runId!, 'evaluate'))).uid).toBe(IMAGE_USER.uid);

    // The inference service serves the champion: the promoted model, picked up by itself, or model zero still.
    expect(gcs.objects.has(`${modelsBucket}/${modelKeys.pointer('production')}`)).toBe(true);
    await until(`the inference service to serve ${champion}`, 120_000, async () => {
      const r = (await (await fetch(`${bases.get(inference.name)}/status`, { headers: asScheduler })).json()) as {
        champion?: string | null;
      };
      return r.champion === champion ? true : undefined;
    });
    const predicted = (await (await call(ingest[0])).json()) as { model?: { version?: string }; modelVersion?: string };
    expect(JSON.stringify(predicted)).toContain(champion);

    for (const { s, w } of liveness) {
      w.stop();
      expect([s.name, w.failures]).toEqual([s.name, []]);
    }
  }, 1_200_000);
});

/** The account pipeline jobs run as (the stack's config for the trigger names it). */
function pipelineAccount(d: ReturnType<typeof deploymentOf>): string {
  const env = (d.services.find((s) => s.resource === 'trigger-service') as DeclaredService).container.env;
  return env.CV_PIPELINE_SERVICE_ACCOUNT;
}

/** The real uid of a running process (Linux). */
async function realUidOf(pid: number): Promise<number> {
  return Number(/^Uid:\s+(\d+)/m.exec(await fs.readFile(`/proc/${pid}/status`, 'utf8'))![1]);
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
